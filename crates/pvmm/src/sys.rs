//! The two calls into the C library the command line makes (the crate's only unsafe code):
//! the default action of SIGPIPE, and the terminal's width.

/// `pvmm check --all | head` ends quietly, like other Unix tools, instead of panicking on a
/// closed stdout: restore the default action of SIGPIPE (Rust ignores it).
#[cfg(unix)]
pub fn default_sigpipe() {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: setting a signal's disposition to SIG_DFL at start-up, before any thread exists.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

#[cfg(not(unix))]
pub fn default_sigpipe() {}

/// The width of the terminal on stderr, if it is one.
#[cfg(target_os = "linux")]
pub fn tty_columns() -> Option<usize> {
    #[repr(C)]
    struct WinSize {
        row: u16,
        col: u16,
        xpixel: u16,
        ypixel: u16,
    }
    extern "C" {
        fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
    }
    const TIOCGWINSZ: std::ffi::c_ulong = 0x5413;
    let mut ws = WinSize {
        row: 0,
        col: 0,
        xpixel: 0,
        ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` to the pointer, which lives on this stack.
    let rc = unsafe { ioctl(2, TIOCGWINSZ, &mut ws as *mut WinSize) };
    (rc == 0 && ws.col > 0).then_some(ws.col as usize)
}

#[cfg(not(target_os = "linux"))]
pub fn tty_columns() -> Option<usize> {
    None
}
