//! Metadata of restored paths (owner, mode, times) and special files
//! (symlinks, fifos, devices), never following a symlink at the name.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::plan::Meta;
use super::RestoreError;
use crate::snapshot::{Node, NodeType};

fn io(action: &'static str, path: &Path, source: std::io::Error) -> RestoreError {
    RestoreError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

fn cpath(path: &Path) -> Result<std::ffi::CString, RestoreError> {
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io("encode", path, std::io::Error::other("path contains NUL")))
}

pub(super) fn create_special(path: &Path, node: &Node) -> Result<(), RestoreError> {
    if fs::symlink_metadata(path).is_ok() {
        fs::remove_file(path).map_err(|e| io("replace", path, e))?;
    }
    match node.node_type {
        NodeType::Symlink => {
            let target = node.link_target.clone().unwrap_or_default();
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target.as_bytes()), path)
                .map_err(|e| io("create symlink", path, e))
        }
        NodeType::Fifo | NodeType::Chardev | NodeType::Blockdev => {
            let kind = match node.node_type {
                NodeType::Fifo => libc::S_IFIFO,
                NodeType::Chardev => libc::S_IFCHR,
                _ => libc::S_IFBLK,
            };
            let c = cpath(path)?;
            // SAFETY: c is a valid NUL-terminated path.
            let rc = unsafe {
                libc::mknod(
                    c.as_ptr(),
                    kind | (node.mode & 0o7777),
                    node.rdev as libc::dev_t,
                )
            };
            if rc != 0 {
                return Err(io("create", path, std::io::Error::last_os_error()));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// As [`apply_metadata`] through an open file (a restored file before it is
/// renamed into place): no path is looked up again.
pub(super) fn apply_metadata_fd(
    file: &fs::File,
    path: &Path,
    node: &Meta,
    warnings: &mut Vec<String>,
) -> Result<(), RestoreError> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fd is an open file descriptor owned by `file`.
    if unsafe { libc::fchown(fd, node.uid, node.gid) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EPERM) {
            warnings.push(format!("cannot set owner of {}: {err}", path.display()));
        }
    }
    // After the owner: changing it clears set-user-ID bits.
    file.set_permissions(fs::Permissions::from_mode(node.mode))
        .map_err(|e| io("set mode of", path, e))?;
    let times = [timespec(node.mtime_ns), timespec(node.mtime_ns)];
    // SAFETY: fd is open and times points to two timespecs.
    if unsafe { libc::futimens(fd, times.as_ptr()) } != 0 {
        warnings.push(format!(
            "cannot set times of {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn timespec(ns: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: ns.div_euclid(1_000_000_000) as libc::time_t,
        tv_nsec: ns.rem_euclid(1_000_000_000) as libc::c_long,
    }
}

/// Ownership (when permitted), mode and times. Symlinks get ownership and
/// times only, without following them.
pub(super) fn apply_metadata(
    path: &Path,
    node: &Meta,
    warnings: &mut Vec<String>,
) -> Result<(), RestoreError> {
    let c = cpath(path)?;
    let is_link = node.node_type == NodeType::Symlink;
    // SAFETY: c is a valid NUL-terminated path; lchown does not follow links.
    let rc = unsafe { libc::lchown(c.as_ptr(), node.uid, node.gid) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        // Unprivileged restores cannot give files away; that is expected.
        if err.raw_os_error() != Some(libc::EPERM) {
            warnings.push(format!("cannot set owner of {}: {err}", path.display()));
        }
    }
    if !is_link {
        fs::set_permissions(path, fs::Permissions::from_mode(node.mode))
            .map_err(|e| io("set mode of", path, e))?;
    }
    let times = [timespec(node.mtime_ns), timespec(node.mtime_ns)];
    // SAFETY: c is valid and times points to two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        warnings.push(format!(
            "cannot set times of {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
