//! The floor of the cache-hit benchmark: a bare UDP server that answers each query
//! with dnsd's own response to that question, recorded once before the run (ID set to
//! the query's), read in batches (recvmmsg) and sent in batches (sendmmsg), and does
//! nothing else. Its CPU time per query is the kernel's share for responses of exactly
//! dnsd's sizes: what is above it in dnsd's figure is dnsd's own work
//! (shared/BENCHMARKING.md).

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;

const BATCH: usize = 64;
const MAX: usize = 4096;

/// The recorded responses in `path`: each a 16-bit length, then the message.
fn read_responses(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("read the recorded responses");
    let mut responses = Vec::new();
    let mut rest = &bytes[..];
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let (message, after) = tail.split_at(len);
        responses.push(message.to_vec());
        rest = after;
    }
    responses
}

/// Writes `responses` as [`read_responses`] reads them.
pub fn write_responses(path: &Path, responses: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for r in responses {
        bytes.extend_from_slice(&(r.len() as u16).to_be_bytes());
        bytes.extend_from_slice(r);
    }
    std::fs::write(path, bytes).expect("write the recorded responses");
}

/// The length of the question section that starts at offset 12 of `message`.
fn question_len(message: &[u8]) -> usize {
    let mut at = 12;
    while let Some(&len) = message.get(at) {
        at += 1 + usize::from(len);
        if len == 0 {
            break;
        }
    }
    at + 4 - 12
}

/// Answers datagrams on `addr` from the responses in `path` until killed; a query
/// whose question none of them has gets its own bytes back.
pub fn run(addr: SocketAddr, path: &Path) {
    let responses: Vec<(Vec<u8>, Vec<u8>)> = read_responses(path)
        .into_iter()
        .map(|r| (r[12..12 + question_len(&r)].to_vec(), r))
        .collect();
    let sock = UdpSocket::bind(addr).expect("bind the floor server");
    let fd = sock.as_raw_fd();
    let mut queries = vec![[0u8; MAX]; BATCH];
    let mut answers = vec![[0u8; MAX]; BATCH];
    // SAFETY: zeroed sockaddr_storage, iovec and mmsghdr are valid initial values.
    let mut addrs: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut recv_iovs: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut send_iovs: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut recv: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut send: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    loop {
        for i in 0..BATCH {
            recv_iovs[i].iov_base = queries[i].as_mut_ptr().cast();
            recv_iovs[i].iov_len = MAX;
            recv[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            recv[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            recv[i].msg_hdr.msg_iov = &mut recv_iovs[i];
            recv[i].msg_hdr.msg_iovlen = 1;
            recv[i].msg_len = 0;
        }
        // SAFETY: every mmsghdr points into buffers that outlive the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                recv.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n <= 0 {
            continue;
        }
        for i in 0..n as usize {
            let query = &queries[i][..recv[i].msg_len as usize];
            let question = query.get(12..).unwrap_or_default();
            let found = responses
                .iter()
                .find(|(q, _)| question.starts_with(q))
                .map_or(query, |(_, r)| &r[..]);
            let len = found.len();
            answers[i][..len].copy_from_slice(found);
            if let (Some(id), Some(to)) = (query.get(..2), answers[i].get_mut(..2)) {
                to.copy_from_slice(id);
            }
            send_iovs[i].iov_base = answers[i].as_mut_ptr().cast();
            send_iovs[i].iov_len = len;
            send[i].msg_hdr.msg_name = recv[i].msg_hdr.msg_name;
            send[i].msg_hdr.msg_namelen = recv[i].msg_hdr.msg_namelen;
            send[i].msg_hdr.msg_iov = &mut send_iovs[i];
            send[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: as above; the first n entries were filled by recvmmsg.
        unsafe { libc::sendmmsg(fd, send.as_mut_ptr(), n as u32, 0) };
    }
}
