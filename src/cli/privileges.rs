//! Running with the least privilege: dropping root to a named user after
//! the capture handle is open (like tcpdump -Z), and the file mode mask of
//! everything the writer creates.

use std::ffi::CString;

use super::usage::UsageError;

/// The user and group a process switches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
}

/// Looks `name` up in the user database.
pub fn lookup_user(name: &str) -> Result<Identity, UsageError> {
    let unknown = || UsageError(format!("--user {name}: no such user"));
    let c_name = CString::new(name).map_err(|_| unknown())?;
    // SAFETY: passwd is plain old data; getpwnam_r fills it and points its
    // strings into `buffer`, which outlives every use below.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the buffer length is its real size.
    let status = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 || found.is_null() {
        return Err(unknown());
    }
    Ok(Identity {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    })
}

/// Switches the whole process to `name`'s user, group and supplementary
/// groups, for good (root cannot be regained). Must run before any thread
/// that writes files starts.
pub fn drop_to_user(name: &str) -> Result<Identity, UsageError> {
    let identity = lookup_user(name)?;
    let c_name = CString::new(name).map_err(|_| UsageError(format!("--user {name}: bad name")))?;
    let failed = |step: &str| {
        UsageError(format!(
            "--user {name}: {step} failed: {} (dropping privileges needs to start as root)",
            std::io::Error::last_os_error()
        ))
    };
    // SAFETY: plain system calls on values we own; the group calls come
    // first because they need root, which setuid gives up.
    unsafe {
        if libc::initgroups(c_name.as_ptr(), identity.gid) != 0 {
            return Err(failed("initgroups"));
        }
        if libc::setgid(identity.gid) != 0 {
            return Err(failed("setgid"));
        }
        if libc::setuid(identity.uid) != 0 {
            return Err(failed("setuid"));
        }
        if libc::setuid(0) == 0 && identity.uid != 0 {
            return Err(UsageError(format!(
                "--user {name}: root could be regained; refusing to run"
            )));
        }
    }
    log::info!(
        "running as user {name} (uid {}, gid {})",
        identity.uid,
        identity.gid
    );
    Ok(identity)
}

/// Output files 0644 and directories 0755, whatever umask we inherited.
pub fn set_output_mode_mask() {
    // SAFETY: umask only swaps the process's mask.
    unsafe {
        libc::umask(0o022);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_and_an_unknown_user_is_named_in_the_error() {
        assert_eq!(lookup_user("root").expect("root exists").uid, 0);
        let error = lookup_user("no-such-user-here").expect_err("unknown user");
        assert_eq!(error.to_string(), "--user no-such-user-here: no such user");
    }
}
