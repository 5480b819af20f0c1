//! The tokenizer of RFC 1035 §5.1 master files: splits a file buffer into entries (one
//! record or directive, possibly spanning lines inside parentheses) made of tokens that
//! borrow the buffer. Nothing is copied or allocated per token: escapes are left in the
//! token text and decoded by whoever reads the field (`text`).
//!
//! Rules: `;` starts a comment to the end of the line; `(` and `)` let an entry span
//! lines (they do not nest); `"` quotes a token that may hold spaces, `;` and
//! parentheses, and ends on its line (as BIND and Knot require: an unclosed quote
//! would swallow the records that follow); `\` escapes the next character (or starts
//! `\DDD`) everywhere, but not the end of a line outside quotes, which is an error
//! (BIND and Knot refuse it; NSD joins the next line into the record, which then
//! silently disappears); inside quotes `\` before a line end is a newline octet, as in
//! BIND. An entry whose first line starts with a space or tab has no owner (the
//! previous one applies).

/// A token: the text between delimiters (without the quotes for a quoted token),
/// escapes undecoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// The raw text.
    pub text: &'a [u8],
    /// Whether it was written in double quotes.
    pub quoted: bool,
    /// Line of the token's first character (1-based).
    pub line: u32,
}

/// How an entry starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryHead {
    /// Line where the entry's first token is.
    pub line: u32,
    /// Whether the entry's line starts with blank space: no owner, the previous applies.
    pub blank_owner: bool,
}

/// What the tokenizer could not make sense of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    /// A `)` without a `(`.
    #[error("')' without a matching '('")]
    UnopenedParen,
    /// A `(` inside parentheses.
    #[error("nested '('")]
    NestedParen,
    /// End of file inside parentheses.
    #[error("'(' opened at line {0} is never closed")]
    UnclosedParen(u32),
    /// A quoted string not closed on the line it opened.
    #[error("quoted string is not closed on its line (a '\"' is missing)")]
    UnclosedQuote(u32),
    /// A `\` at the very end of the file.
    #[error("'\\' at the end of the file")]
    TrailingBackslash,
    /// A `\` at the end of a line, outside quotes.
    #[error(
        "'\\' at the end of the line would join the next line into this record; write \\092 for a backslash"
    )]
    EscapedNewline,
}

/// Cuts a file buffer into entries.
pub struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
    line: u32,
}

impl<'a> Lexer<'a> {
    /// A tokenizer at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            line: 1,
        }
    }

    /// A tokenizer at the start of `buf`, a piece of a file that starts at a line
    /// start, `line` being that line's number.
    pub fn starting_at(buf: &'a [u8], line: u32) -> Self {
        Self { buf, pos: 0, line }
    }

    /// The offset in the buffer where the next entry's search starts.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The line at [`Lexer::pos`].
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Reads the next entry's tokens into `tokens` (cleared first). `None` at the end of
    /// the file. After an error the rest of the offending line is skipped, so that the
    /// caller can go on and report every error of the file.
    pub fn next_entry(
        &mut self,
        tokens: &mut Vec<Token<'a>>,
    ) -> Option<Result<EntryHead, (u32, LexError)>> {
        tokens.clear();
        let buf = self.buf;
        let mut paren_line: Option<u32> = None;
        let mut head = EntryHead {
            line: self.line,
            blank_owner: self.at_blank_line_start(),
        };
        while self.pos < buf.len() {
            let c = buf[self.pos];
            match c {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b';' => {
                    self.pos = memchr_newline(buf, self.pos);
                }
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    if paren_line.is_none() {
                        if !tokens.is_empty() {
                            return Some(Ok(head));
                        }
                        head.blank_owner = self.at_blank_line_start();
                    }
                }
                b'(' => {
                    if paren_line.is_some() {
                        return Some(Err(self.fail(LexError::NestedParen)));
                    }
                    paren_line = Some(self.line);
                    self.pos += 1;
                }
                b')' => {
                    if paren_line.is_none() {
                        return Some(Err(self.fail(LexError::UnopenedParen)));
                    }
                    paren_line = None;
                    self.pos += 1;
                }
                b'"' => {
                    let line = self.line;
                    let start = self.pos + 1;
                    let mut i = start;
                    loop {
                        match buf.get(i) {
                            None | Some(b'\n') => {
                                self.pos = i;
                                return Some(Err((line, LexError::UnclosedQuote(line))));
                            }
                            Some(b'"') => break,
                            Some(b'\\') => {
                                // An escaped line end is a newline octet (BIND).
                                match (buf.get(i + 1), buf.get(i + 2)) {
                                    (Some(b'\n'), _) => {
                                        self.line += 1;
                                        i += 2;
                                    }
                                    (Some(b'\r'), Some(b'\n')) => {
                                        self.line += 1;
                                        i += 3;
                                    }
                                    _ => i += 2,
                                }
                            }
                            Some(_) => i += 1,
                        }
                    }
                    if tokens.is_empty() {
                        head.line = line;
                    }
                    tokens.push(Token {
                        text: &buf[start..i],
                        quoted: true,
                        line,
                    });
                    self.pos = i + 1;
                }
                _ => {
                    let start = self.pos;
                    let mut i = start;
                    while let Some(&b) = buf.get(i) {
                        match b {
                            b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                            b'\\' => {
                                if i + 1 >= buf.len() {
                                    self.pos = buf.len();
                                    return Some(Err((self.line, LexError::TrailingBackslash)));
                                }
                                if buf[i + 1] == b'\n' || buf[i + 1..].starts_with(b"\r\n") {
                                    self.pos = i;
                                    return Some(Err(self.fail(LexError::EscapedNewline)));
                                }
                                i += 2;
                            }
                            _ => i += 1,
                        }
                    }
                    if tokens.is_empty() {
                        head.line = self.line;
                    }
                    tokens.push(Token {
                        text: &buf[start..i],
                        quoted: false,
                        line: self.line,
                    });
                    self.pos = i;
                }
            }
        }
        if let Some(line) = paren_line {
            return Some(Err((line, LexError::UnclosedParen(line))));
        }
        if tokens.is_empty() {
            None
        } else {
            Some(Ok(head))
        }
    }

    fn at_blank_line_start(&self) -> bool {
        matches!(self.buf.get(self.pos), Some(b' ' | b'\t'))
    }

    /// Reports `error` at the current line and skips to the next line.
    fn fail(&mut self, error: LexError) -> (u32, LexError) {
        let line = self.line;
        self.pos = memchr_newline(self.buf, self.pos);
        (line, error)
    }
}

/// Position of the next `\n` at or after `from`, or the end of `buf`.
fn memchr_newline(buf: &[u8], from: usize) -> usize {
    buf[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |at| from + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Entry = (EntryHead, Vec<(String, bool)>);

    fn entries(text: &str) -> Vec<Result<Entry, (u32, LexError)>> {
        let mut lexer = Lexer::new(text.as_bytes());
        let mut tokens = Vec::new();
        let mut out = Vec::new();
        while let Some(entry) = lexer.next_entry(&mut tokens) {
            out.push(entry.map(|head| {
                let toks = tokens
                    .iter()
                    .map(|t| (String::from_utf8_lossy(t.text).into_owned(), t.quoted))
                    .collect();
                (head, toks)
            }));
        }
        out
    }

    fn words(entry: &Entry) -> Vec<&str> {
        entry.1.iter().map(|(t, _)| t.as_str()).collect()
    }

    #[test]
    fn splits_lines_comments_and_blank_owners() {
        let got = entries("a A 1.2.3.4 ; comment\n\n  ; only a comment\n\tB 1\n");
        assert_eq!(got.len(), 2);
        let first = got[0].as_ref().unwrap();
        assert_eq!(words(first), ["a", "A", "1.2.3.4"]);
        assert_eq!(
            first.0,
            EntryHead {
                line: 1,
                blank_owner: false
            }
        );
        let second = got[1].as_ref().unwrap();
        assert_eq!(words(second), ["B", "1"]);
        assert_eq!(
            second.0,
            EntryHead {
                line: 4,
                blank_owner: true
            }
        );
    }

    #[test]
    fn parentheses_span_lines_and_quotes_keep_specials() {
        let got = entries("@ SOA ns host (\n 1 ; serial\n 2 )\nt TXT \"a ; (b)\" c\\ d\n");
        let soa = got[0].as_ref().unwrap();
        assert_eq!(words(soa), ["@", "SOA", "ns", "host", "1", "2"]);
        let txt = got[1].as_ref().unwrap();
        assert_eq!(words(txt), ["t", "TXT", "a ; (b)", "c\\ d"]);
        assert!(txt.1[2].1 && !txt.1[3].1);
        assert_eq!(txt.0.line, 4);
    }

    #[test]
    fn errors_are_reported_and_skipped() {
        let got = entries("a ) b\nc A 1\nd TXT \"open\n");
        assert_eq!(got[0], Err((1, LexError::UnopenedParen)));
        assert_eq!(words(got[1].as_ref().unwrap()), ["c", "A", "1"]);
        assert_eq!(got[2], Err((3, LexError::UnclosedQuote(3))));
        assert_eq!(entries("a ( b\n")[0], Err((1, LexError::UnclosedParen(1))));
        assert_eq!(entries("a\\")[0], Err((1, LexError::TrailingBackslash)));
    }

    #[test]
    fn line_ends_are_never_escaped_away() {
        // A backslash at the end of a line must not join the next record into this one.
        let got = entries("www TXT abc\\\nmail A 1.2.3.4\nx A 1\\\r\ny A 2\n");
        assert_eq!(got[0], Err((1, LexError::EscapedNewline)));
        assert_eq!(words(got[1].as_ref().unwrap()), ["mail", "A", "1.2.3.4"]);
        assert_eq!(got[1].as_ref().unwrap().0.line, 2);
        assert_eq!(got[2], Err((3, LexError::EscapedNewline)));
        assert_eq!(words(got[3].as_ref().unwrap()), ["y", "A", "2"]);
        // An unclosed quote ends at its line; the next record is read.
        let got = entries("a TXT \"open\nb A 1\n");
        assert_eq!(got[0], Err((1, LexError::UnclosedQuote(1))));
        assert_eq!(words(got[1].as_ref().unwrap()), ["b", "A", "1"]);
        // Inside quotes, an escaped line end is a newline octet (BIND).
        let got = entries("t TXT \"ab\\\ncd\"\nu A 1\n");
        assert_eq!(words(got[0].as_ref().unwrap()), ["t", "TXT", "ab\\\ncd"]);
        assert_eq!(got[1].as_ref().unwrap().0.line, 3);
    }
}
