//! Hot reload: file-system events on the pipeline directory and on the
//! directories of the components in use become one [`Engine::reload`]
//! once the files have been quiet for a moment (an editor's save or a
//! `cp` is several events).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::Engine;

/// How long the files must be quiet before a reload.
const QUIET: Duration = Duration::from_millis(300);

/// Watches until the returned task is aborted.
///
/// # Errors
/// The platform's watcher could not start.
pub fn spawn(engine: Arc<Engine>) -> notify::Result<tokio::task::JoinHandle<()>> {
    let (events, mut receiver) = mpsc::unbounded_channel::<()>();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if event.kind.is_access() => {}
            Ok(_) => {
                let _ = events.send(());
            }
            Err(error) => warn!(%error, "file watcher"),
        })?;
    let pipelines_dir = engine.config().pipelines_dir.clone();
    watcher.watch(&pipelines_dir, RecursiveMode::NonRecursive)?;
    let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
    watched.insert(pipelines_dir);
    // Bundled components: a file that was missing may appear.
    let components_dir = engine.config().components_dir.clone();
    if components_dir.is_dir() && watched.insert(components_dir.clone()) {
        if let Err(error) = watcher.watch(&components_dir, RecursiveMode::NonRecursive) {
            warn!(dir = %components_dir.display(), %error, "cannot watch");
        }
    }
    Ok(tokio::spawn(async move {
        loop {
            // Watch the directories of every component in use (a component
            // replaced by rename is an event on its directory).
            for file in engine.component_files().await {
                if let Some(dir) = file.parent().map(PathBuf::from) {
                    if watched.insert(dir.clone()) {
                        if let Err(error) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
                            warn!(dir = %dir.display(), %error, "cannot watch");
                        }
                    }
                }
            }
            if receiver.recv().await.is_none() {
                return;
            }
            // Debounce: wait until nothing happened for QUIET.
            loop {
                match tokio::time::timeout(QUIET, receiver.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            debug!("files changed; reloading pipelines");
            engine.reload().await;
        }
    }))
}
