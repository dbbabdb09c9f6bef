//! `files.*` under the granted directory.
//!
//! A path is relative to the granted directory and made of plain names:
//! an absolute path, `..`, or a path that resolves (through symlinks)
//! outside the directory is `permission-denied`. `write` creates missing
//! parent directories and replaces the file atomically (a temp file, then a
//! rename), so a reader never sees half a file. `list-dir` returns the
//! entries' names sorted, directories with a trailing `/` (a symlink is
//! listed as itself, without one); `""` or `"."`
//! is the granted directory itself. A missing file is `invalid-input` whose
//! message starts with `not found:`.

use std::io::ErrorKind as IoKind;
use std::path::{Component, Path, PathBuf};

use crate::bindings::transform::sluice::pipeline::{files, types};
use crate::grants::Grant;

use super::HostState;

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
