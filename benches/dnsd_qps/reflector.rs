//! The floor of the benchmark: a bare UDP reflector that receives datagrams in batches
//! (recvmmsg), sets QR and sends them back (sendmmsg), and does nothing else. Its CPU
//! time per query is the kernel's share that no DNS server can go below
//! (shared/BENCHMARKING.md).

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

const BATCH: usize = 64;

/// Reflects datagrams on `addr` until killed.
pub fn run(addr: SocketAddr) {
    let sock = UdpSocket::bind(addr).expect("bind reflector");
    let fd = sock.as_raw_fd();
    let mut bufs = vec![[0u8; 512]; BATCH];
    // SAFETY: zeroed sockaddr_storage, iovec and mmsghdr are valid initial values.
    let mut addrs: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut iovs: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    loop {
        for i in 0..BATCH {
            iovs[i].iov_base = bufs[i].as_mut_ptr().cast();
            iovs[i].iov_len = bufs[i].len();
            msgs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            msgs[i].msg_hdr.msg_iov = &mut iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_len = 0;
        }
        // SAFETY: every mmsghdr points into buffers that outlive the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n <= 0 {
            continue;
        }
        let n = n as usize;
        for i in 0..n {
            let len = msgs[i].msg_len as usize;
            if len >= 3 {
                bufs[i][2] |= 0x80;
            }
            iovs[i].iov_len = len;
        }
        // SAFETY: as above; the first n entries were filled by recvmmsg.
        unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), n as u32, 0) };
    }
}
