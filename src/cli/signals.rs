//! SIGINT and SIGTERM as a request to stop: `analyze`, `batch` and `live` catch them (`catch_stop_signals`)
//! and look between frames (`stop_requested`), so that a run ends as after an error, every output
//! flushed, closed and put in place. Apart from `cli/mod.rs`, which dispatches to those commands and so
//! cannot be imported back by them.

static STOP_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_stop_signal(sig: libc::c_int) {
    STOP_SIGNAL.store(sig, std::sync::atomic::Ordering::Relaxed); // async-signal-safe
}

/// Turn the first SIGINT or SIGTERM into a request to stop (`stop_requested`), so that a run ends as
/// after an error: every output flushed, closed and put in place. A second signal ends the process.
pub fn catch_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a plain sigaction with a handler that only stores to an atomic.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// The name of the stop signal received, if any.
pub fn stop_requested() -> Option<&'static str> {
    match STOP_SIGNAL.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        libc::SIGTERM => Some("SIGTERM"),
        _ => Some("SIGINT"),
    }
}
