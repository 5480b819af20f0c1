//! The replay scenario format of Unbound's `testdata/*.rpl` and CZ.NIC's Deckard
//! (one text format): a configuration (`server:` options, `stub-zone:` and
//! `forward-zone:` clauses) up to `CONFIG_END`, then `SCENARIO_BEGIN`, ranges of steps
//! in which fake authoritative servers answer (`RANGE_BEGIN start end`, `ADDRESS`,
//! `ENTRY_BEGIN` … `ENTRY_END`, `RANGE_END`), and the steps the client plays
//! (`STEP n QUERY|CHECK_ANSWER|TIME_PASSES ELAPSE s|TRAFFIC|…`, each QUERY and
//! CHECK_ANSWER followed by its entry). Pure: text in, a [`Scenario`] out.
//!
//! An entry (Unbound's testcode/testpkts.c) holds `MATCH` keywords (what of a query
//! must equal the entry's: opcode, qtype, qname, subdomain, all, DO, TCP, …),
//! `ADJUST` keywords (copy_id, copy_query), `REPLY` flags and rcode, and
//! `SECTION QUESTION|ANSWER|AUTHORITY|ADDITIONAL` followed by records in zone-file
//! text. Anything else in an entry (hex packets, EDNS data) is kept in
//! [`Entry::unsupported`], so the runner can say why it skips a scenario.

use std::net::IpAddr;

/// One scenario file.
#[derive(Debug, Default, Clone)]
pub struct Scenario {
    /// The text after `SCENARIO_BEGIN`.
    pub title: String,
    /// Everything before `CONFIG_END`.
    pub config: Config,
    /// The fake servers, in file order.
    pub ranges: Vec<Range>,
    /// The client's steps, in file order.
    pub steps: Vec<Step>,
    /// Deckard's timing (set by the caller, who knows where the file came from): the
    /// fake servers answer a QUERY step's questions at that step, where Unbound's
    /// testbound has moved on to the next step.
    pub deckard: bool,
}

/// The configuration part: `server:` options and zone clauses.
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// `key: value` of the `server:` clause (and of lines outside any clause), quotes
    /// removed, in file order; a key may repeat (`trust-anchor`).
    pub options: Vec<(String, String)>,
    /// `stub-zone:` clauses.
    pub stubs: Vec<ZoneClause>,
    /// `forward-zone:` clauses.
    pub forwards: Vec<ZoneClause>,
}

/// A `stub-zone:` or `forward-zone:` clause.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ZoneClause {
    /// `name:`, as written.
    pub name: String,
    /// `stub-addr:` / `forward-addr:` values, without `@port` or comments.
    pub addrs: Vec<String>,
    /// The clause's other options (`stub-prime`, `forward-first`, …).
    pub options: Vec<(String, String)>,
}

impl Config {
    /// The last value of server option `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of server option `key`.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.options
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The fake servers of steps `start..=end`.
#[derive(Debug, Default, Clone)]
pub struct Range {
    pub start: u32,
    pub end: u32,
    /// The addresses it answers on; empty: every address.
    pub addrs: Vec<IpAddr>,
    pub entries: Vec<Entry>,
}

/// One `ENTRY_BEGIN` … `ENTRY_END`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Entry {
    /// Line of `ENTRY_BEGIN` (1-based), for reports.
    pub line: usize,
    /// `MATCH` keywords (as written, e.g. `opcode`, `qname`, `ede=6`).
    pub matches: Vec<String>,
    /// `ADJUST` keywords.
    pub adjust: Vec<String>,
    /// `REPLY` keywords: flags (QR AA TC RD RA AD CD DO), opcode and rcode names.
    pub reply: Vec<String>,
    /// Records (zone-file text) of QUESTION, ANSWER, AUTHORITY, ADDITIONAL.
    pub sections: [Vec<String>; 4],
    /// Constructs the runner does not implement (`HEX_ANSWER_BEGIN`, …).
    pub unsupported: Vec<String>,
}

impl Entry {
    /// Whether `MATCH` names `keyword` (case-insensitive).
    pub fn matches_on(&self, keyword: &str) -> bool {
        self.matches.iter().any(|m| m.eq_ignore_ascii_case(keyword))
    }

    /// Whether `REPLY` names `keyword` (case-insensitive).
    pub fn replies(&self, keyword: &str) -> bool {
        self.reply.iter().any(|m| m.eq_ignore_ascii_case(keyword))
    }

    /// Whether `ADJUST` names `keyword`.
    pub fn adjusts(&self, keyword: &str) -> bool {
        self.adjust.iter().any(|m| m.eq_ignore_ascii_case(keyword))
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// The client sends the entry's question.
    Query,
    /// The next answer must match the entry.
    CheckAnswer,
    /// The clock moves on by this many seconds.
    TimePasses(u64),
    /// Wait until the traffic in flight is done.
    Traffic,
    /// Any other step type (CHECK_OUT_QUERY, REPLY, TIMEOUT, …), as written.
    Other(String),
}

/// One `STEP`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub n: u32,
    pub kind: StepKind,
    pub entry: Option<Entry>,
}

/// A parse error: line (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// `line` without its comment (`;` or `#` outside double quotes) and blanks at the ends.
fn strip_comment(line: &str, hash: bool) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return line[..i].trim(),
            '#' if hash && !quoted => return line[..i].trim(),
            _ => {}
        }
    }
    line.trim()
}

/// An address as written in ADDRESS or stub-addr (`1.2.3.4`, `1.2.3.4@53`).
pub fn parse_addr(text: &str) -> Option<IpAddr> {
    text.split('@').next()?.trim().parse().ok()
}

/// Parses a whole scenario file.
pub fn parse(text: &str) -> Result<Scenario, ParseError> {
    let mut scenario = Scenario::default();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();
    // The configuration, up to CONFIG_END.
    let mut clause = String::from("server");
    for (_, raw) in lines.by_ref() {
        let line = strip_comment(raw, true);
        if line == "CONFIG_END" {
            break;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim().trim_matches('"').to_string());
        if value.is_empty() && matches!(key, "server" | "stub-zone" | "forward-zone") {
            clause = key.to_string();
            match key {
                "stub-zone" => scenario.config.stubs.push(ZoneClause::default()),
                "forward-zone" => scenario.config.forwards.push(ZoneClause::default()),
                _ => {}
            }
            continue;
        }
        let zone = match clause.as_str() {
            "stub-zone" => scenario.config.stubs.last_mut(),
            "forward-zone" => scenario.config.forwards.last_mut(),
            _ => None,
        };
        match zone {
            Some(z) if key == "name" => z.name = value,
            Some(z) if key == "stub-addr" || key == "forward-addr" => z.addrs.push(value),
            Some(z) => z.options.push((key.to_string(), value)),
            None => scenario.config.options.push((key.to_string(), value)),
        }
    }
    let mut range: Option<Range> = None;
    while let Some((number, raw)) = lines.next() {
        let line = strip_comment(raw, false);
        let mut words = line.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        let error = |message: String| ParseError {
            line: number,
            message,
        };
        match keyword {
            "SCENARIO_BEGIN" => scenario.title = words.collect::<Vec<_>>().join(" "),
            "SCENARIO_END" => break,
            "RANGE_BEGIN" => {
                let start = words.next().and_then(|w| w.parse().ok());
                let end = words.next().and_then(|w| w.parse().ok());
                let (Some(start), Some(end)) = (start, end) else {
                    return Err(error(format!("bad RANGE_BEGIN: {line}")));
                };
                range = Some(Range {
                    start,
                    end,
                    ..Range::default()
                });
            }
            "ADDRESS" => {
                let r = range
                    .as_mut()
                    .ok_or(error("ADDRESS outside a range".into()))?;
                let addr = words.next().and_then(parse_addr);
                r.addrs
                    .push(addr.ok_or(error(format!("bad address: {line}")))?);
            }
            "ENTRY_BEGIN" => {
                let entry = parse_entry(number, &mut lines)?;
                let r = range
                    .as_mut()
                    .ok_or(error("entry outside a range".into()))?;
                r.entries.push(entry);
            }
            "RANGE_END" => {
                let r = range
                    .take()
                    .ok_or(error("RANGE_END without a range".into()))?;
                scenario.ranges.push(r);
            }
            "STEP" => {
                let n = words.next().and_then(|w| w.parse().ok());
                let n = n.ok_or(error(format!("bad STEP: {line}")))?;
                let kind = match words.next().unwrap_or("") {
                    "QUERY" => StepKind::Query,
                    "CHECK_ANSWER" => StepKind::CheckAnswer,
                    "TRAFFIC" => StepKind::Traffic,
                    "TIME_PASSES" => {
                        let _ = words.next(); // ELAPSE
                        let secs = words.next().and_then(|w| w.parse::<f64>().ok());
                        StepKind::TimePasses(secs.map_or(0, |s| s.ceil() as u64))
                    }
                    other => StepKind::Other(other.to_string()),
                };
                let takes_entry = matches!(kind, StepKind::Query | StepKind::CheckAnswer)
                    || matches!(&kind, StepKind::Other(o) if o == "CHECK_OUT_QUERY" || o == "REPLY");
                let mut entry = None;
                if takes_entry {
                    // The entry follows, perhaps after blank or comment lines.
                    while let Some((_, next)) = lines.peek() {
                        if strip_comment(next, false).is_empty() {
                            lines.next();
                        } else {
                            break;
                        }
                    }
                    if let Some(&(at, next)) = lines.peek()
                        && strip_comment(next, false) == "ENTRY_BEGIN"
                    {
                        lines.next();
                        entry = Some(parse_entry(at, &mut lines)?);
                    }
                }
                scenario.steps.push(Step { n, kind, entry });
            }
            _ => {}
        }
    }
    Ok(scenario)
}

/// Reads an entry's lines after `ENTRY_BEGIN` (on line `begin`) up to `ENTRY_END`.
fn parse_entry<'a>(
    begin: usize,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Result<Entry, ParseError> {
    let mut entry = Entry {
        line: begin,
        ..Entry::default()
    };
    let mut section: Option<usize> = None;
    let mut skipping: Option<String> = None;
    for (_, raw) in lines.by_ref() {
        let line = strip_comment(raw, false);
        if let Some(end) = &skipping {
            if line.starts_with(end.as_str()) {
                skipping = None;
            }
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        match keyword {
            "ENTRY_END" => return Ok(entry),
            "MATCH" => entry.matches.extend(words.map(str::to_string)),
            "ADJUST" => entry.adjust.extend(words.map(str::to_string)),
            "REPLY" => entry.reply.extend(words.map(str::to_string)),
            "SECTION" => {
                section = match words.next() {
                    Some("QUESTION") => Some(0),
                    Some("ANSWER") => Some(1),
                    Some("AUTHORITY") => Some(2),
                    Some("ADDITIONAL") => Some(3),
                    other => {
                        entry
                            .unsupported
                            .push(format!("SECTION {}", other.unwrap_or("")));
                        None
                    }
                }
            }
            k if k.ends_with("_BEGIN") => {
                entry.unsupported.push(k.to_string());
                skipping = Some(k.replace("_BEGIN", "_END"));
            }
            k if k.chars().all(|c| c.is_ascii_uppercase() || c == '_') && k.len() > 3 => {
                entry.unsupported.push(k.to_string());
            }
            _ => match section {
                Some(s) => entry.sections[s].push(line.to_string()),
                None => entry.unsupported.push(format!("stray line: {line}")),
            },
        }
    }
    Err(ParseError {
        line: begin,
        message: "ENTRY_BEGIN without ENTRY_END".into(),
    })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
