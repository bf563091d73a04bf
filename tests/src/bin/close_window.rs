//! Asks the windows of one process to close, the way a window manager does
//! when its user clicks a window's close button: a `WM_DELETE_WINDOW` client
//! message. Used by the desktop end-to-end test, where no window manager runs.
//!
//! Usage: `close-window <pid>`; prints how many windows it asked, exits 1 if
//! none of that process is mapped.

#[cfg(target_os = "linux")]
fn main() {
    let pid: u64 = match std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        Some(p) => p,
        None => {
            eprintln!("usage: close-window <pid>");
            std::process::exit(2);
        }
    };
    match x11::close_windows_of(pid) {
        Ok(0) => {
            eprintln!("close-window: no mapped window of process {pid}");
            std::process::exit(1);
        }
        Ok(n) => println!("asked {n} window(s) of process {pid} to close"),
        Err(e) => {
            eprintln!("close-window: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("close-window: X11 only");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
mod x11 {
    use std::ffi::CString;
    use std::os::raw::{c_int, c_long, c_uchar, c_uint, c_ulong};
    use std::ptr;
    use x11_dl::xlib;

    /// Sends `WM_DELETE_WINDOW` to every mapped window whose `_NET_WM_PID`
    /// is `pid`; returns how many.
    pub fn close_windows_of(pid: u64) -> Result<usize, String> {
        let x = xlib::Xlib::open().map_err(|e| format!("cannot load libX11: {e}"))?;
        // SAFETY: plain Xlib calls on a display this function opens and
        // closes; every returned buffer is freed with XFree.
        unsafe {
            let display = (x.XOpenDisplay)(ptr::null());
            if display.is_null() {
                return Err("cannot open the display named by DISPLAY".into());
            }
            let atom = |name: &str| {
                let c = CString::new(name).expect("atom names have no NUL");
                (x.XInternAtom)(display, c.as_ptr(), xlib::False)
            };
            let (net_wm_pid, protocols, delete) = (
                atom("_NET_WM_PID"),
                atom("WM_PROTOCOLS"),
                atom("WM_DELETE_WINDOW"),
            );
            let mut asked = 0;
            for window in tree((&x, display), (x.XDefaultRootWindow)(display)) {
                if window_pid(&x, display, window, net_wm_pid) != Some(pid) {
                    continue;
                }
                let mut attrs: xlib::XWindowAttributes = std::mem::zeroed();
                if (x.XGetWindowAttributes)(display, window, &mut attrs) == 0
                    || attrs.map_state != xlib::IsViewable
                {
                    continue;
                }
                let mut event: xlib::XEvent = std::mem::zeroed();
                event.client_message = xlib::XClientMessageEvent {
                    type_: xlib::ClientMessage,
                    serial: 0,
                    send_event: xlib::True,
                    display,
                    window,
                    message_type: protocols,
                    format: 32,
                    data: xlib::ClientMessageData::new(),
                };
                event.client_message.data.set_long(0, delete as c_long);
                event
                    .client_message
                    .data
                    .set_long(1, xlib::CurrentTime as c_long);
                (x.XSendEvent)(display, window, xlib::False, xlib::NoEventMask, &mut event);
                asked += 1;
            }
            (x.XSync)(display, xlib::False);
            (x.XCloseDisplay)(display);
            Ok(asked)
        }
    }

    /// Every window under `root`, depth first.
    unsafe fn tree((x, display): (&xlib::Xlib, *mut xlib::Display), root: c_ulong) -> Vec<c_ulong> {
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(w) = stack.pop() {
            let (mut r, mut parent, mut children, mut n): (c_ulong, c_ulong, *mut c_ulong, c_uint) =
                (0, 0, ptr::null_mut(), 0);
            // SAFETY: XQueryTree fills `children` with `n` windows, freed here.
            unsafe {
                if (x.XQueryTree)(display, w, &mut r, &mut parent, &mut children, &mut n) != 0
                    && !children.is_null()
                {
                    stack.extend_from_slice(std::slice::from_raw_parts(children, n as usize));
                    (x.XFree)(children.cast());
                }
            }
            out.push(w);
        }
        out
    }

    unsafe fn window_pid(
        x: &xlib::Xlib,
        display: *mut xlib::Display,
        window: c_ulong,
        net_wm_pid: c_ulong,
    ) -> Option<u64> {
        let (mut kind, mut format, mut items, mut after, mut data): (
            c_ulong,
            c_int,
            c_ulong,
            c_ulong,
            *mut c_uchar,
        ) = (0, 0, 0, 0, ptr::null_mut());
        // SAFETY: XGetWindowProperty allocates `data` (one format-32 item
        // is a C long), freed here.
        unsafe {
            let status = (x.XGetWindowProperty)(
                display,
                window,
                net_wm_pid,
                0,
                1,
                xlib::False,
                xlib::XA_CARDINAL,
                &mut kind,
                &mut format,
                &mut items,
                &mut after,
                &mut data,
            );
            if status != xlib::Success as c_int || data.is_null() {
                return None;
            }
            // Format-32 properties come back as C longs.
            let pid = (items == 1 && format == 32).then(|| *(data as *const c_long) as u64);
            (x.XFree)(data.cast());
            pid
        }
    }
}
