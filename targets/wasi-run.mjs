// Runs a wasm32-wasip1 program under Node.js's WASI (node >= 20) and exits with its status.
// A trap (unreachable, out-of-bounds access, stack overflow) exits with status 3.
// Usage: node --no-warnings targets/wasi-run.mjs PROGRAM.wasm [ARGS...]
import { readFile } from 'node:fs/promises';
import { argv, exit, stderr } from 'node:process';
import { WASI } from 'node:wasi';

const [program, ...args] = argv.slice(2);
if (!program) {
    stderr.write('usage: node --no-warnings wasi-run.mjs PROGRAM.wasm [ARGS...]\n');
    exit(2);
}
const wasi = new WASI({ version: 'preview1', args: [program, ...args], env: {}, returnOnExit: true });
let status;
try {
    const module = await WebAssembly.compile(await readFile(program));
    const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
    status = wasi.start(instance);
} catch (error) {
    // After a panic, std's hook has already printed the failing summary line; a plain trap
    // leaves none, which the runner reports as a failure too.
    process.stdout.write(`Wasm trap: ${error}\n`);
    status = 3;
}
exit(status);
