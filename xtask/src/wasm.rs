//! `cargo xtask wasm`: builds every guest in the repository into
//! `target/wasm/<name>.wasm`; `cargo xtask demo` builds only the Rust ones
//! ([`wasm_rust`]).
//!
//! Guests are found by what their directory holds:
//!
//! | directory holds | language | built by |
//! |---|---|---|
//! | `Cargo.toml` (a member of `plugins/Cargo.toml` or `connectors/Cargo.toml`) | Rust | one `cargo build --target wasm32-wasip2` per guest workspace |
//! | `app.py` | Python | `sdk/python/build-component DIR OUT` (componentize-py) |
//! | `index.js` | JavaScript | `sdk/js/build-component DIR OUT` (componentize-js) |
//! | a top-level `*.c` file | C | `sdk/c/build-component DIR OUT` (clang, wit-bindgen, wasm-tools) |
//!
//! Searched: each directory of `plugins/` (transforms and test fixtures)
//! and of `connectors/` (the bundled sources and sinks), named after it,
//! and each SDK's `sdk/<language>/template`, named `<language>-template`.
//! Names must be unique across both directories. The builders
//! install nothing: a missing tool fails with the script that installs it
//! (`.ci/install-{python,js,c}-guest-tools`, which `.ci/install-test-tools`
//! runs for `.ci/run` and `cargo xtask test`).
//!
//! The builders get, in the environment: `SLUICE_WIT` (the contract's WIT
//! directory), `SLUICE_WASI_ADAPTER` (the WASI preview-1 → preview-2
//! reactor adapter that turns a core module into a component, written from
//! the `wasi-preview1-component-adapter-provider` crate matching the host's
//! wasmtime) and `SLUICE_BUILD_DIR` (scratch space under `target/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::{cargo, run, target_dir, workspace_root};

/// The target Rust guests build for: a `cdylib` becomes a component.
const WASM_TARGET: &str = "wasm32-wasip2";

/// The directories holding guests, one per directory inside; each is also
/// the Cargo workspace of its Rust guests.
pub(crate) const GUEST_HOMES: &[&str] = &["plugins", "connectors"];

/// A guest's language, told by what its directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Rust,
    Python,
    JavaScript,
    C,
}

impl Language {
    fn of(dir: &Path) -> anyhow::Result<Option<Language>> {
        if dir.join("Cargo.toml").is_file() {
            return Ok(Some(Language::Rust));
        }
        if dir.join("app.py").is_file() {
            return Ok(Some(Language::Python));
        }
        if dir.join("index.js").is_file() {
            return Ok(Some(Language::JavaScript));
        }
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "c") {
                return Ok(Some(Language::C));
            }
        }
        Ok(None)
    }

    /// The SDK directory under `sdk/` whose `build-component` builds it.
    fn sdk_dir(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "js",
            Language::C => "c",
        }
    }
}

/// One guest to build.
#[derive(Debug)]
struct Guest {
    /// `target/wasm/<name>.wasm`.
    name: String,
    /// The entry of [`GUEST_HOMES`] it is in; `None` for an SDK template.
    home: Option<&'static str>,
    dir: PathBuf,
    language: Language,
}

/// Every guest in [`GUEST_HOMES`] and every SDK template, sorted by name.
fn guests(root: &Path) -> anyhow::Result<Vec<Guest>> {
    let mut guests = Vec::new();
    for &home in GUEST_HOMES {
        let home_dir = root.join(home);
        for entry in std::fs::read_dir(&home_dir)
            .with_context(|| format!("reading {}", home_dir.display()))?
        {
            let dir = entry?.path();
            if !dir.is_dir() {
                continue;
            }
            if let Some(language) = Language::of(&dir)? {
                guests.push(Guest {
                    name: utf8_name(&dir)?,
                    home: Some(home),
                    dir,
                    language,
                });
            }
        }
    }
    for language in [Language::Python, Language::JavaScript, Language::C] {
        let dir = root.join("sdk").join(language.sdk_dir()).join("template");
        if dir.is_dir() {
            guests.push(Guest {
                name: format!("{}-template", language.sdk_dir()),
                home: None,
                dir,
                language,
            });
        }
    }
    guests.sort_by(|a, b| a.name.cmp(&b.name));
    // Each lands in `target/wasm/<name>.wasm`: two of one name would
    // overwrite each other.
    for pair in guests.windows(2) {
        if pair[0].name == pair[1].name {
            bail!(
                "two guests are named `{}` ({} and {}): rename one",
                pair[0].name,
                pair[0].dir.display(),
                pair[1].dir.display()
            );
        }
    }
    Ok(guests)
}

fn utf8_name(dir: &Path) -> anyhow::Result<String> {
    dir.file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .with_context(|| format!("{} is not a UTF-8 name", dir.display()))
}

/// Builds every guest into `target/wasm/`.
pub(crate) fn wasm() -> anyhow::Result<()> {
    let root = workspace_root();
    let guests = guests(&root)?;
    let target = target_dir(&root);
    let out_dir = build_rust_guests(&root, &guests, &target)?;

    let build_dir = target.join("wasm-build");
    std::fs::create_dir_all(&build_dir)
        .with_context(|| format!("creating {}", build_dir.display()))?;
    let adapter = build_dir.join("wasi_snapshot_preview1.reactor.wasm");
    write_if_changed(
        &adapter,
        wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    )?;
    for guest in guests.iter().filter(|g| g.language != Language::Rust) {
        let builder = root
            .join("sdk")
            .join(guest.language.sdk_dir())
            .join("build-component");
        let dest = out_dir.join(format!("{}.wasm", guest.name));
        let scratch = build_dir.join(&guest.name);
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        run(
            &format!(
                "{} {}",
                relative(&root, &builder),
                relative(&root, &guest.dir)
            ),
            Command::new("bash")
                .current_dir(&root)
                .arg(&builder)
                .arg(&guest.dir)
                .arg(&dest)
                .env("SLUICE_WIT", root.join("sdk/wit"))
                .env("SLUICE_WASI_ADAPTER", &adapter)
                .env("SLUICE_BUILD_DIR", &scratch),
        )?;
        report(&dest)?;
    }
    Ok(())
}

/// Builds only the Rust guests (every bundled connector and plugin is one)
/// into `target/wasm/`: what needs nothing beyond `rustup target add
/// wasm32-wasip2`.
pub(crate) fn wasm_rust() -> anyhow::Result<()> {
    let root = workspace_root();
    let guests = guests(&root)?;
    build_rust_guests(&root, &guests, &target_dir(&root)).map(drop)
}

/// Builds the Rust guests of each of [`GUEST_HOMES`]; returns the directory
/// the components are in.
fn build_rust_guests(root: &Path, guests: &[Guest], target: &Path) -> anyhow::Result<PathBuf> {
    if guests.is_empty() {
        bail!("no guests in {}", GUEST_HOMES.join(", "));
    }
    let out_dir = target.join("wasm");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for &home in GUEST_HOMES {
        let rust: Vec<&Guest> = guests
            .iter()
            .filter(|guest| guest.language == Language::Rust && guest.home == Some(home))
            .collect();
        if !rust.is_empty() {
            build_rust(root, home, target, &out_dir, &rust)?;
        }
    }
    Ok(out_dir)
}

/// Builds the Rust guest workspace `<home>/Cargo.toml` for `WASM_TARGET`
/// in release mode into `target/wasm-build/`, then copies each component.
fn build_rust(
    root: &Path,
    home: &str,
    target: &Path,
    out_dir: &Path,
    guests: &[&Guest],
) -> anyhow::Result<()> {
    check_wasm_target()?;
    let build_dir = target.join("wasm-build");
    run(
        &format!("cargo build --release --target {WASM_TARGET} ({home}/)"),
        cargo()
            .current_dir(root)
            .args(["build", "--release", "--workspace", "--target", WASM_TARGET])
            .arg("--manifest-path")
            .arg(root.join(home).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&build_dir),
    )?;
    for guest in guests {
        let name = &guest.name;
        // Cargo names a cdylib after its package, with `-` turned into `_`.
        let built = build_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        if !built.is_file() {
            bail!(
                "{home}/{name} built no {}: is it a `cdylib` whose package is named `{name}`?",
                built.display()
            );
        }
        let dest = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(&built, &dest)
            .with_context(|| format!("copying {} to {}", built.display(), dest.display()))?;
        report(&dest)?;
    }
    Ok(())
}

fn report(dest: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::metadata(dest)
        .with_context(|| format!("the builder wrote no {}", dest.display()))?
        .len();
    eprintln!("xtask: {} ({bytes} bytes)", dest.display());
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Writes `bytes` unless the file already holds them, so its mtime only
/// moves when the adapter changes.
fn write_if_changed(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Fails unless the toolchain has the standard library for `WASM_TARGET`.
/// Checked in the sysroot rather than through rustup, so it also holds for a
/// toolchain rustup does not manage; installing is left to the caller.
fn check_wasm_target() -> anyhow::Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .context("could not start rustc --print sysroot")?;
    if !output.status.success() {
        bail!(
            "rustc --print sysroot failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let target_lib = sysroot.join("lib/rustlib").join(WASM_TARGET);
    if !target_lib.is_dir() {
        bail!(
            "the Rust target {WASM_TARGET} is not installed (no {}): \
             run `rustup target add {WASM_TARGET}`",
            target_lib.display()
        );
    }
    Ok(())
}
