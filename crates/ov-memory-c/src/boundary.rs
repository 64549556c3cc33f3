//! The FFI boundary: panic capture, the per-thread last error, pointer checks
//! and buffer writing. Every `extern "C"` function goes through
//! [`status_call`] or [`value_call`], so no panic crosses into C and every
//! failure leaves its details in the last error.

use ov_memory::{Error, ErrorCode, Result};
use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::OvStatus;

thread_local! {
    static LAST_ERROR: RefCell<Option<Error>> = const { RefCell::new(None) };
}

pub(crate) fn set_last_error(e: Option<Error>) {
    // `try_with` so a call during thread teardown cannot panic.
    let _ = LAST_ERROR.try_with(|l| *l.borrow_mut() = e);
}

pub(crate) fn with_last_error<T>(f: impl FnOnce(Option<&Error>) -> T) -> T {
    let last = LAST_ERROR.try_with(|l| l.borrow().clone()).ok().flatten();
    f(last.as_ref())
}

fn panic_error() -> Error {
    Error::new(ErrorCode::Internal, "internal error: a panic was caught at the C boundary")
}

/// Runs `f`; maps its error to a status and the last error. Success clears the last error.
pub(crate) fn status_call(f: impl FnOnce() -> Result<()>) -> OvStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            set_last_error(None);
            OvStatus::Ok
        }
        Ok(Err(e)) => {
            let s = e.code();
            set_last_error(Some(e));
            s
        }
        Err(_) => {
            set_last_error(Some(panic_error()));
            OvStatus::Internal
        }
    }
}

/// Runs `f`; on error records the last error and returns `fallback`.
pub(crate) fn value_call<T>(fallback: T, f: impl FnOnce() -> Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => {
            set_last_error(None);
            v
        }
        Ok(Err(e)) => {
            set_last_error(Some(e));
            fallback
        }
        Err(_) => {
            set_last_error(Some(panic_error()));
            fallback
        }
    }
}

/// For entry points that report no status (frees, last-error readers, static
/// strings): catches a panic and returns `fallback`, leaving the last error alone.
pub(crate) fn quiet_call<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

pub(crate) fn null(field: &str) -> Error {
    Error::invalid(field, format!("{field} must not be NULL"))
}

/// Borrows a NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives the call.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, field: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null(field));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    std::str::from_utf8(bytes)
        .map_err(|e| Error::invalid(field, format!("{field} is not valid UTF-8")).with("byte_offset", e.valid_up_to()))
}

/// Like [`c_str`], but NULL means "absent".
///
/// # Safety
/// As for [`c_str`].
pub(crate) unsafe fn opt_c_str<'a>(p: *const c_char, field: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { c_str(p, field) }.map(Some)
    }
}

/// Borrows `len` elements. NULL is accepted only with `len == 0`.
///
/// # Safety
/// `p` is NULL or points to `len` initialised elements that outlive the call.
pub(crate) unsafe fn slice<'a, T>(p: *const T, len: usize, field: &str) -> Result<&'a [T]> {
    if p.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(null(field)) };
    }
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Error::invalid(field, format!("{field} length is impossibly large")).with("got", len));
    }
    if !p.is_aligned() {
        return Err(Error::invalid(field, format!("{field} is misaligned")));
    }
    // SAFETY: non-NULL, aligned, in bounds per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Writes `s` into a caller buffer the way `snprintf` would, except that a buffer
/// too small gets an empty string rather than a cut-off text. Returns `s.len()`.
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes.
pub(crate) unsafe fn write_buf(s: &str, buf: *mut c_char, len: usize) -> usize {
    let needed = s.len();
    if buf.is_null() || len == 0 {
        return needed;
    }
    // SAFETY: `buf` has `len` writable bytes per this function's contract.
    let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    if needed < len {
        out[..needed].copy_from_slice(s.as_bytes());
        out[needed] = 0;
    } else {
        out[0] = 0;
    }
    needed
}

/// A NUL-terminated copy for C, freed with `ov_string_free`. Interior NULs
/// (impossible in the JSON we produce) are replaced so the call cannot fail.
pub(crate) fn to_c_string(s: String) -> *mut c_char {
    let s = if s.contains('\0') { s.replace('\0', "\u{FFFD}") } else { s };
    match std::ffi::CString::new(s) {
        Ok(c) => c.into_raw(),
        Err(_) => std::ptr::null_mut(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_buf_is_all_or_nothing() {
        let mut buf = [b'x' as c_char; 8];
        // SAFETY: buf has 8 bytes.
        unsafe {
            assert_eq!(write_buf("hello", buf.as_mut_ptr(), 8), 5);
            assert_eq!(CStr::from_ptr(buf.as_ptr()).to_str().unwrap(), "hello");
            assert_eq!(write_buf("12345678", buf.as_mut_ptr(), 8), 8, "needs 9 bytes with the NUL");
            assert_eq!(buf[0], 0, "empty, never cut off");
            assert_eq!(write_buf("1234567", buf.as_mut_ptr(), 8), 7);
            assert_eq!(write_buf("abc", std::ptr::null_mut(), 0), 3);
        }
    }

    #[test]
    fn panics_become_internal() {
        let s = status_call(|| panic!("boom"));
        assert_eq!(s, OvStatus::Internal);
        with_last_error(|e| assert_eq!(e.unwrap().code(), ErrorCode::Internal));
        assert_eq!(status_call(|| Ok(())), OvStatus::Ok);
        with_last_error(|e| assert!(e.is_none()));
    }
}
