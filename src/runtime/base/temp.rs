//! nginx's temporary files (`ngx_create_temp_file`) and the counter that numbers them
//! (`ngx_temp_number`), which also numbers multipart boundaries: one sequence for both, from
//! 1, shared by every worker, as nginx's counter is shared by its workers.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::io::errno_text;
use crate::ir::location::TempPath;

static TEMP_NUMBER: AtomicU64 = AtomicU64::new(0);

/// The next number of the sequence.
pub fn next_number() -> u64 {
    TEMP_NUMBER.fetch_add(1, Ordering::Relaxed) + 1
}

/// A temporary file under `tp` (its hash levels and a ten-digit number), created
/// exclusively, then unlinked at once: the open file is all rginx needs. Returns the file and
/// the name it was created as (for nginx's warning), or nginx's message for the failure.
pub fn create(tp: &TempPath) -> Result<(File, PathBuf), String> {
    for _ in 0..64 {
        let name = format!("{:010}", next_number());
        let mut path = tp.path.clone();
        let mut end = name.len();
        for &level in &tp.levels {
            let level = level as usize;
            path.push(&name[end - level..end]);
            end -= level;
        }
        if !tp.levels.is_empty() {
            let _ = std::fs::create_dir_all(&path);
        }
        path.push(&name);
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                let _ = std::fs::remove_file(&path);
                return Ok((f, path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tp.levels.is_empty() => {
                // The directory is made on first use; the number is tried again.
                let _ = std::fs::create_dir_all(&tp.path);
                TEMP_NUMBER.fetch_sub(1, Ordering::Relaxed);
            }
            Err(e) => {
                return Err(format!(
                    "open() \"{}\" failed {}",
                    path.display(),
                    errno_text(&e)
                ))
            }
        }
    }
    Err(format!(
        "could not create a temporary file in \"{}\"",
        tp.path.display()
    ))
}
