//! `files.*` under the granted directory.
//!
//! A path is relative to the granted directory and made of plain names:
//! an absolute path, `..`, or a path that resolves (through symlinks)
//! outside the directory is `permission-denied`. `write` creates missing
//! parent directories and replaces the file atomically (a temp file, then a
//! rename), so a reader never sees half a file. `read-range` reads at most
//! [`READ_RANGE_BYTES_MAX`] bytes per call, so a guest following a large
//! file holds a bounded chunk of it at a time. `append` creates missing
//! parent directories too, and syncs the data before it returns: a sink's
//! `flush` is durable once the call is. `list-dir` returns the
//! entries' names sorted, directories with a trailing `/` (a symlink is
//! listed as itself, without one); `""` or `"."`
//! is the granted directory itself. A missing file is `invalid-input` whose
//! message starts with `not found:`.

use std::io::{ErrorKind as IoKind, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use crate::bindings::transform::sluice::pipeline::{files, types};
use crate::grants::Grant;

use super::HostState;

/// The most `files.read-range` returns per call: one chunk bounds what
/// the guest's memory and the copy across the boundary cost.
pub(crate) const READ_RANGE_BYTES_MAX: u32 = 16 << 20;

fn error(kind: types::ErrorKind, message: String) -> types::Error {
    types::Error { kind, message }
}

fn io_error(function: &str, path: &str, e: &std::io::Error) -> types::Error {
    let kind = match e.kind() {
        IoKind::NotFound => {
            return error(
                types::ErrorKind::InvalidInput,
                format!("not found: `{function}` {path:?}"),
            )
        }
        IoKind::PermissionDenied => types::ErrorKind::PermissionDenied,
        IoKind::IsADirectory
        | IoKind::NotADirectory
        | IoKind::DirectoryNotEmpty
        | IoKind::AlreadyExists
        | IoKind::InvalidInput => types::ErrorKind::InvalidInput,
        _ => types::ErrorKind::Unavailable,
    };
    error(kind, format!("`{function}` {path:?}: {e}"))
}

impl HostState {
    /// The granted directory joined with `path`, refused when it would
    /// leave the directory.
    fn resolve(&self, function: &str, path: &str) -> Result<PathBuf, types::Error> {
        self.check(Grant::Files, function)?;
        let root = self.grants.files_dir().expect("checked above");
        let outside = || {
            error(
                types::ErrorKind::PermissionDenied,
                format!(
                    "`{function}` {path:?}: paths are relative to the granted directory and cannot leave it \
                     (no absolute paths, no `..`)"
                ),
            )
        };
        let mut joined = root.to_path_buf();
        for component in Path::new(path).components() {
            match component {
                Component::Normal(name) => joined.push(name),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(outside())
                }
            }
        }
        // Symlinks: the deepest existing ancestor must still be inside.
        let canonical_root = root
            .canonicalize()
            .map_err(|e| io_error(function, "", &e))?;
        let mut existing = joined.as_path();
        loop {
            match existing.canonicalize() {
                Ok(real) if real.starts_with(&canonical_root) => break,
                Ok(_) => return Err(outside()),
                Err(_) => match existing.parent() {
                    Some(parent) => existing = parent,
                    None => return Err(outside()),
                },
            }
        }
        Ok(joined)
    }
}

impl files::Host for HostState {
    fn read(&mut self, path: String) -> Result<Vec<u8>, types::Error> {
        let full = self.resolve("files.read", &path)?;
        std::fs::read(&full).map_err(|e| io_error("files.read", &path, &e))
    }

    fn read_range(&mut self, path: String, offset: u64, len: u32) -> Result<Vec<u8>, types::Error> {
        const FUNCTION: &str = "files.read-range";
        if len > READ_RANGE_BYTES_MAX {
            return Err(error(
                types::ErrorKind::InvalidInput,
                format!(
                    "`{FUNCTION}` {path:?}: {len} bytes asked, at most {READ_RANGE_BYTES_MAX} \
                     per call; read the file in smaller chunks"
                ),
            ));
        }
        let full = self.resolve(FUNCTION, &path)?;
        let mut file = std::fs::File::open(&full).map_err(|e| io_error(FUNCTION, &path, &e))?;
        let size = file
            .metadata()
            .map_err(|e| io_error(FUNCTION, &path, &e))?
            .len();
        // Allocate only what the file holds past `offset`, not `len` up
        // front: a follower asks for a large chunk and mostly gets a little.
        let available = size.saturating_sub(offset).min(u64::from(len));
        let mut contents = Vec::with_capacity(available as usize);
        if available > 0 {
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.take(u64::from(len)).read_to_end(&mut contents))
                .map_err(|e| io_error(FUNCTION, &path, &e))?;
        }
        Ok(contents)
    }

    fn size(&mut self, path: String) -> Result<u64, types::Error> {
        const FUNCTION: &str = "files.size";
        let full = self.resolve(FUNCTION, &path)?;
        std::fs::metadata(&full)
            .map(|metadata| metadata.len())
            .map_err(|e| io_error(FUNCTION, &path, &e))
    }

    fn truncate(&mut self, path: String, len: u64) -> Result<(), types::Error> {
        const FUNCTION: &str = "files.truncate";
        let full = self.resolve(FUNCTION, &path)?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&full)
            .map_err(|e| io_error(FUNCTION, &path, &e))?;
        let size = file
            .metadata()
            .map_err(|e| io_error(FUNCTION, &path, &e))?
            .len();
        if len < size {
            file.set_len(len)
                .and_then(|()| file.sync_all())
                .map_err(|e| io_error(FUNCTION, &path, &e))?;
        }
        Ok(())
    }

    fn append(&mut self, path: String, contents: Vec<u8>) -> Result<(), types::Error> {
        const FUNCTION: &str = "files.append";
        let full = self.resolve(FUNCTION, &path)?;
        let Some(parent) = full.parent().filter(|_| full.file_name().is_some()) else {
            return Err(error(
                types::ErrorKind::InvalidInput,
                format!("`{FUNCTION}` {path:?}: not a file path"),
            ));
        };
        std::fs::create_dir_all(parent).map_err(|e| io_error(FUNCTION, &path, &e))?;
        let created = !full.exists();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&full)
            .map_err(|e| io_error(FUNCTION, &path, &e))?;
        // `sync_data` is enough: the length is data for this purpose, and
        // the file's other metadata (times, permissions) is not needed to
        // read the appended bytes back after a crash.
        file.write_all(&contents)
            .and_then(|()| file.sync_data())
            .map_err(|e| io_error(FUNCTION, &path, &e))?;
        // A new file's name lives in its directory: sync that too, or a
        // crash could lose the whole file despite its synced data.
        if created {
            std::fs::File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| io_error(FUNCTION, &path, &e))?;
        }
        Ok(())
    }

    fn write(&mut self, path: String, contents: Vec<u8>) -> Result<(), types::Error> {
        let full = self.resolve("files.write", &path)?;
        let (Some(parent), Some(name)) = (full.parent(), full.file_name()) else {
            return Err(error(
                types::ErrorKind::InvalidInput,
                format!("`files.write` {path:?}: not a file path"),
            ));
        };
        std::fs::create_dir_all(parent).map_err(|e| io_error("files.write", &path, &e))?;
        let mut temp = parent.join(".sluice-write-");
        temp.as_mut_os_string().push(name);
        std::fs::write(&temp, &contents)
            .and_then(|()| std::fs::rename(&temp, &full))
            .map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                io_error("files.write", &path, &e)
            })
    }

    fn list_dir(&mut self, dir: String) -> Result<Vec<String>, types::Error> {
        let full = self.resolve("files.list-dir", &dir)?;
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&full).map_err(|e| io_error("files.list-dir", &dir, &e))? {
            let entry = entry.map_err(|e| io_error("files.list-dir", &dir, &e))?;
            let mut name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                name.push('/');
            }
            names.push(name);
        }
        names.sort();
        Ok(names)
    }

    fn remove(&mut self, path: String) -> Result<(), types::Error> {
        let full = self.resolve("files.remove", &path)?;
        if full == self.grants.files_dir().expect("resolved") {
            return Err(error(
                types::ErrorKind::PermissionDenied,
                "`files.remove`: the granted directory itself cannot be removed".into(),
            ));
        }
        let removed = match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir(&full),
            Ok(_) => std::fs::remove_file(&full),
            Err(e) => Err(e),
        };
        removed.map_err(|e| io_error("files.remove", &path, &e))
    }
}
