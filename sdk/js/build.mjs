// Builds one JavaScript guest into a component of the `transform` world.
//
//   node build.mjs SRC_DIR OUT_WASM     (run through ./build-component)
//
// 1. Stages the guest's modules (`*.js`, `*.mjs`, `*.json` under SRC_DIR,
//    without `node_modules/`, dot-directories and `*.test.js` files) and the
//    SDK (`sluice.js`) into $SLUICE_BUILD_DIR/src. An `import ... from
//    "sluice"` is rewritten to the staged SDK's relative path: the engine
//    resolves relative imports only, and guests should not have to know
//    where the SDK lives.
// 2. Calls componentize-js's `componentize()` on the staged `index.js`. The
//    engine (StarlingMonkey) runs the module once at build time and snapshots
//    the result, so top-level code runs at build time, not per instance.
// 3. Skips all of it when a hash of every input matches the stamp of the
//    last build and OUT_WASM exists: a build takes about ten seconds.
//
// Writes only under $SLUICE_BUILD_DIR and OUT_WASM.

import { createHash } from "node:crypto";
import { cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const SDK_DIR = dirname(fileURLToPath(import.meta.url));
/// Where the SDK module is staged, relative to the staged sources.
const STAGED_SDK = ".sluice-sdk/sluice.js";
/// WASI features the host has no use for: it does not link `wasi:http`.
const DISABLED_FEATURES = ["http", "fetch-event"];

function fail(message) {
  console.error(`sdk/js/build-component: ${message}`);
  process.exit(1);
}

/// Guest modules under `dir`, as paths relative to it, sorted.
async function guestFiles(dir, prefix = "") {
  const files = [];
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  for (const entry of entries) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && !entry.name.startsWith(".")) {
        files.push(...(await guestFiles(dir, path)));
      }
    } else if (/\.(m?js|json)$/.test(entry.name) && !/\.test\.m?js$/.test(entry.name)) {
      files.push(path);
    }
  }
  return files.sort();
}

async function witFiles(dir) {
  const names = (await readdir(dir)).filter((name) => name.endsWith(".wit")).sort();
  return names.map((name) => join(dir, name));
}

/// Points `from "sluice"` / `import "sluice"` at the staged SDK.
function rewriteSdkImports(source, fileRelPath) {
  let target = relative(dirname(fileRelPath), STAGED_SDK).split(sep).join("/");
  if (!target.startsWith(".")) target = `./${target}`;
  return source.replace(/(\b(?:from|import)\s*)(["'])sluice\2/g, `$1$2${target}$2`);
}

async function main() {
  const [srcArg, outArg] = process.argv.slice(2);
  if (!srcArg || !outArg) fail("usage: build.mjs SRC_DIR OUT_WASM");
  const srcDir = resolve(srcArg);
  const outWasm = resolve(outArg);
  const witDir = process.env.SLUICE_WIT;
  const buildDir = process.env.SLUICE_BUILD_DIR;
  const adapter = process.env.SLUICE_WASI_ADAPTER || undefined;
  if (!witDir || !buildDir) fail("SLUICE_WIT and SLUICE_BUILD_DIR must be set (run it through sdk/js/build-component)");

  const files = await guestFiles(srcDir);
  if (files.includes(STAGED_SDK)) fail(`${srcDir} has its own ${STAGED_SDK}; rename it`);

  // Everything the output depends on goes into the stamp.
  const hash = createHash("sha256");
  const feed = (label, bytes) => hash.update(`${label}\0${bytes.length}\0`).update(bytes);
  for (const file of files) feed(`guest:${file}`, await readFile(join(srcDir, file)));
  for (const file of ["sluice.js", "build.mjs", "package-lock.json"]) {
    feed(`sdk:${file}`, await readFile(join(SDK_DIR, file)));
  }
  for (const file of await witFiles(witDir)) feed(`wit:${file}`, await readFile(file));
  if (adapter) feed("adapter", await readFile(adapter));
  feed("out", Buffer.from(outWasm));
  const digest = hash.digest("hex");
  const stampPath = join(buildDir, "stamp");
  if (existsSync(outWasm) && existsSync(stampPath) && (await readFile(stampPath, "utf8")) === digest) {
    console.error(`sdk/js/build-component: ${relative(process.cwd(), outWasm)} is up to date`);
    return;
  }

  const stageDir = join(buildDir, "src");
  await rm(stageDir, { recursive: true, force: true });
  for (const file of files) {
    const from = join(srcDir, file);
    const to = join(stageDir, file);
    await mkdir(dirname(to), { recursive: true });
    if (/\.m?js$/.test(file)) {
      await writeFile(to, rewriteSdkImports(await readFile(from, "utf8"), file));
    } else {
      await cp(from, to);
    }
  }
  await mkdir(dirname(join(stageDir, STAGED_SDK)), { recursive: true });
  await cp(join(SDK_DIR, "sluice.js"), join(stageDir, STAGED_SDK));

  const { componentize } = await import("@bytecodealliance/componentize-js");
  const started = Date.now();
  // componentize-js maps the working directory into the build-time engine
  // when the source lies under it; start from the staged sources so only
  // they are visible and module names in stack traces read `index.js`.
  process.chdir(stageDir);
  let component;
  try {
    ({ component } = await componentize({
      sourcePath: join(stageDir, "index.js"),
      witPath: resolve(witDir),
      worldName: "transform",
      disableFeatures: DISABLED_FEATURES,
      preview2Adapter: adapter,
    }));
  } catch (error) {
    fail(`componentize-js failed for ${srcDir}:\n${error.message ?? error}`);
  }
  await mkdir(dirname(outWasm), { recursive: true });
  await writeFile(outWasm, component);
  await writeFile(stampPath, digest);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.error(`sdk/js/build-component: ${outWasm} (${component.length} bytes, ${seconds} s)`);
}

await main();
