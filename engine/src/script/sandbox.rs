//! The one place a `rhai::Engine` is built: every limit set, no modules, no
//! `eval`, a per-run wall-clock deadline, and a bounded AST cache.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use rhai::{AST, Dynamic, EvalAltResult, ImmutableString, ParseError, ParseErrorType, Scope};
use serde_json::{Map, Value};

use super::host::{self, RunState, StateGuard, parse_day};
use super::{ScriptError, convert};

/// How many compiled scripts a [`Sandbox`] keeps.
pub const AST_CACHE_CAPACITY: usize = 1024;

/// Bounds on every script run. Every field has a safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptLimits {
    /// Most rhai operations per run (rhai's own default is unlimited).
    pub max_operations: u64,
    /// Deepest function call nesting (recursion).
    pub max_call_levels: usize,
    /// Deepest expression nesting at the top level.
    pub max_expr_depth: usize,
    /// Deepest expression nesting inside functions.
    pub max_fn_expr_depth: usize,
    /// Longest string, in bytes.
    pub max_string_len: usize,
    /// Longest array.
    pub max_array_len: usize,
    /// Largest object map.
    pub max_map_len: usize,
    /// Wall-clock time per run.
    pub max_duration: Duration,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        Self {
            max_operations: 100_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_fn_expr_depth: 32,
            max_string_len: 64 * 1024,
            max_array_len: 10_000,
            max_map_len: 10_000,
            max_duration: Duration::from_millis(200),
        }
    }
}

thread_local! {
    /// The deadline of the script running on this thread, if any.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Sets this thread's deadline for one run and restores the previous one on
/// drop (so a nested run cannot clear its caller's deadline).
struct DeadlineGuard(Option<Instant>);

impl DeadlineGuard {
    fn set(at: Instant) -> Self {
        Self(DEADLINE.with(|d| d.replace(Some(at))))
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.0));
    }
}

/// Runs `f` (a host read: a bounded database query) off the script's
/// clock: the deadline moves on by the time `f` took, so the limit measures
/// the script's own work and a slow or busy database does not fail a run
/// that is well within it. Reads are bounded separately, by count
/// ([`super::host::MAX_READS`]) and by rows each.
pub(crate) fn off_the_clock<T>(f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let spent = started.elapsed();
    DEADLINE.with(|d| d.set(d.get().map(|at| at + spent)));
    out
}

fn deadline_passed() -> bool {
    DEADLINE.with(Cell::get).is_some_and(|at| Instant::now() >= at)
}

/// The marker value `on_progress` stops a run with.
const DEADLINE_TOKEN: &str = "deadline";

/// Builds a rhai engine with every limit of `l` set, strict variables, no
/// module resolution (`import` is refused), `eval` disabled, a wall-clock
/// check through `on_progress`, and the helpers `days_between(a, b)` and
/// `round(x, n)`.
///
/// # Example
/// ```
/// use engine::script::{ScriptLimits, sandbox::build};
/// let engine = build(&ScriptLimits::default());
/// assert!(engine.compile("loop {}").is_ok());
/// assert!(engine.compile("eval(\"1\")").is_err());
/// ```
#[must_use]
pub fn build(l: &ScriptLimits) -> rhai::Engine {
    let mut e = rhai::Engine::new();
    e.set_max_operations(l.max_operations)
        .set_max_call_levels(l.max_call_levels)
        .set_max_expr_depths(l.max_expr_depth, l.max_fn_expr_depth)
        .set_max_string_size(l.max_string_len)
        .set_max_array_size(l.max_array_len)
        .set_max_map_size(l.max_map_len)
        .set_strict_variables(true)
        .set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    e.disable_symbol("eval");
    e.disable_symbol("import");
    // Checking the clock every 256 operations keeps its cost negligible
    // while overshooting the deadline by microseconds at most.
    e.on_progress(|ops| (ops % 256 == 0 && deadline_passed()).then(|| Dynamic::from(DEADLINE_TOKEN)));
    // Scripts have no console: output is discarded rather than written to
    // the server's stdout.
    e.on_print(|_| {});
    e.on_debug(|_, _, _| {});
    e.register_fn(
        "days_between",
        |a: ImmutableString, b: ImmutableString| -> Result<i64, Box<EvalAltResult>> {
            Ok((parse_day(&b)? - parse_day(&a)?).num_days())
        },
    );
    e.register_fn("round", |x: f64, n: i64| -> f64 {
        let factor = 10f64.powi(i32::try_from(n.clamp(-15, 15)).unwrap_or(0));
        (x * factor).round() / factor
    });
    e.register_fn("round", |x: i64, _n: i64| -> i64 { x });
    host::register(&mut e);
    e
}

/// The scripting sandbox: one configured engine plus an AST cache.
///
/// # Example
/// ```
/// use engine::script::Sandbox;
/// let sandbox = Sandbox::default();
/// let mut record = serde_json::Map::new();
/// record.insert("qty".into(), serde_json::json!(3));
/// let v = sandbox.eval_expr("record.qty * 2", &record, chrono::Utc::now()).unwrap();
/// assert_eq!(v, serde_json::json!(6));
/// ```
pub struct Sandbox {
    engine: rhai::Engine,
    limits: ScriptLimits,
    cache: RwLock<HashMap<String, Arc<AST>>>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new(ScriptLimits::default())
    }
}

impl Sandbox {
    /// A sandbox with these limits.
    #[must_use]
    pub fn new(limits: ScriptLimits) -> Self {
        Self {
            engine: build(&limits),
            limits,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The limits this sandbox enforces.
    #[must_use]
    pub fn limits(&self) -> &ScriptLimits {
        &self.limits
    }

    /// Compiles a script (or takes it from the cache). Scripts see the
    /// variables `record` and `now`; any other free variable is an error.
    ///
    /// # Errors
    /// [`ScriptError::Compile`] (`script_syntax`) with the position, or
    /// [`ScriptError::Limit`] (`script_limit`) for an expression nested too
    /// deep or a literal too large.
    pub fn compile(&self, src: &str) -> Result<Arc<AST>, ScriptError> {
        if let Some(ast) = self.cache.read().unwrap_or_else(PoisonError::into_inner).get(src) {
            return Ok(Arc::clone(ast));
        }
        // Names only: values pushed at compile time would be folded into
        // the AST by the optimizer.
        let mut scope = Scope::new();
        scope.push("record", Dynamic::UNIT);
        scope.push("now", Dynamic::UNIT);
        let ast = Arc::new(
            self.engine
                .compile_with_scope(&scope, src)
                .map_err(|e| self.parse_error(e))?,
        );
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= AST_CACHE_CAPACITY
            && let Some(victim) = cache.keys().next().cloned()
        {
            cache.remove(&victim);
        }
        cache.insert(src.to_owned(), Arc::clone(&ast));
        Ok(ast)
    }

    /// Checks that a script compiles.
    ///
    /// # Errors
    /// As [`Sandbox::compile`].
    pub fn check(&self, src: &str) -> Result<(), ScriptError> {
        self.compile(src).map(|_| ())
    }

    /// Compiles a rule script or condition (or takes it from the cache).
    /// Rule scripts see `record`, `old` and `now`, and the rule API of
    /// [`super::host`]; other free variables are errors.
    ///
    /// # Errors
    /// As [`Sandbox::compile`].
    pub fn compile_rule(&self, src: &str) -> Result<Arc<AST>, ScriptError> {
        let key = format!("rule\u{0}{src}");
        if let Some(ast) = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(Arc::clone(ast));
        }
        let mut scope = Scope::new();
        scope.push("record", Dynamic::UNIT);
        scope.push("old", Dynamic::UNIT);
        scope.push("now", Dynamic::UNIT);
        let ast = Arc::new(
            self.engine
                .compile_with_scope(&scope, src)
                .map_err(|e| self.parse_error(e))?,
        );
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= AST_CACHE_CAPACITY
            && let Some(victim) = cache.keys().next().cloned()
        {
            cache.remove(&victim);
        }
        cache.insert(key, Arc::clone(&ast));
        Ok(ast)
    }

    /// Runs a compiled rule script or condition with `record` and `old`
    /// (maps built once with [`convert::shared_map`], or `()` when absent)
    /// under the run state `state`, within every limit. Returns the script's
    /// value and the state with the effects and log lines it gathered (also
    /// when the script failed).
    ///
    /// Synchronous: call it from a blocking thread when the [`host::Host`]
    /// blocks on the database.
    pub fn run_rule(
        &self,
        ast: &AST,
        record: Option<&Dynamic>,
        old: Option<&Dynamic>,
        state: RunState,
    ) -> (Result<Value, ScriptError>, Option<RunState>) {
        let mut scope = Scope::new();
        scope.push_constant_dynamic("record", record.cloned().unwrap_or(Dynamic::UNIT));
        scope.push_constant_dynamic("old", old.cloned().unwrap_or(Dynamic::UNIT));
        scope.push_constant("now", state.now_text.clone());
        let guard = StateGuard::install(state);
        let result = {
            let _deadline = DeadlineGuard::set(Instant::now() + self.limits.max_duration);
            self.engine
                .eval_ast_with_scope::<Dynamic>(&mut scope, ast)
                .map(convert::to_json)
                .map_err(|e| self.eval_error(*e))
        };
        (result, guard.take())
    }

    /// Evaluates a script over one record. The script sees the constants
    /// `record` (a map of the record's fields) and `now` (RFC 3339 text,
    /// UTC); its last value is returned as JSON (`()` → null).
    ///
    /// # Errors
    /// [`ScriptError::Compile`] (`script_syntax`), [`ScriptError::Runtime`]
    /// (`script_error`, with position) or [`ScriptError::Limit`]
    /// (`script_limit`: operations, call depth, sizes, wall clock).
    pub fn eval_expr(
        &self,
        src: &str,
        record: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Value, ScriptError> {
        let ast = self.compile(src)?;
        let mut scope = Scope::new();
        scope.push_constant("record", Dynamic::from_map(convert::map_of(record)));
        scope.push_constant("now", now.to_rfc3339_opts(SecondsFormat::Millis, true));
        let _deadline = DeadlineGuard::set(Instant::now() + self.limits.max_duration);
        self.engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &ast)
            .map(convert::to_json)
            .map_err(|e| self.eval_error(*e))
    }

    fn parse_error(&self, e: ParseError) -> ScriptError {
        let ParseError(kind, pos) = e;
        match *kind {
            ParseErrorType::ExprTooDeep => ScriptError::Limit {
                message: format!(
                    "the expression is nested deeper than {} levels",
                    self.limits.max_expr_depth
                ),
            },
            ParseErrorType::LiteralTooLarge(what, max) => ScriptError::Limit {
                message: format!("{} is over its limit of {max}", what.to_lowercase()),
            },
            other => ScriptError::Compile {
                message: lower_first(&other.to_string()),
                line: pos.line(),
                col: pos.position(),
            },
        }
    }

    fn eval_error(&self, mut e: EvalAltResult) -> ScriptError {
        let l = &self.limits;
        let limit = |message: String| ScriptError::Limit { message };
        match e {
            EvalAltResult::ErrorTooManyOperations(_) => {
                limit(format!("it ran more than {} operations", l.max_operations))
            }
            EvalAltResult::ErrorStackOverflow(_) => limit(format!(
                "it nested function calls deeper than {} levels",
                l.max_call_levels
            )),
            EvalAltResult::ErrorDataTooLarge(what, _) => {
                limit(format!("{} is over its limit", what.to_lowercase()))
            }
            EvalAltResult::ErrorTerminated(..) => {
                limit(format!("it ran longer than {} ms", l.max_duration.as_millis()))
            }
            EvalAltResult::ErrorTooManyVariables(_) => limit("it defined too many variables".to_owned()),
            EvalAltResult::ErrorTooManyModules(_) => limit("it loaded too many modules".to_owned()),
            EvalAltResult::ErrorParsing(kind, pos) => self.parse_error(ParseError(Box::new(kind), pos)),
            EvalAltResult::ErrorInFunctionCall(_, _, inner, pos)
            | EvalAltResult::ErrorInModule(_, inner, pos) => match self.eval_error(*inner) {
                ScriptError::Runtime {
                    message, line: None, ..
                } => ScriptError::Runtime {
                    message,
                    line: pos.line(),
                    col: pos.position(),
                },
                other => other,
            },
            _ => {
                let pos = e.take_position();
                ScriptError::Runtime {
                    message: lower_first(&e.to_string()),
                    line: pos.line(),
                    col: pos.position(),
                }
            }
        }
    }
}

/// Lower-cases the first letter of rhai's messages (`Variable not found` →
/// `variable not found`), keeping identifiers intact.
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::error::{ErrorCode, HasCode};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
    }

    fn eval(src: &str) -> Result<Value, ScriptError> {
        let record = json!({"qty": 3, "price": 2.5, "name": "ACME", "birthday": "1990-11-30", "tags": ["a"]});
        Sandbox::default().eval_expr(src, record.as_object().unwrap(), now())
    }

    #[test]
    fn evaluates_over_record_and_now() {
        assert_eq!(eval("record.qty * record.price").unwrap(), json!(7.5));
        assert_eq!(eval("record.name + \"!\"").unwrap(), json!("ACME!"));
        assert_eq!(eval("now").unwrap(), json!("2026-11-23T08:00:00.000Z"));
        assert_eq!(
            eval("days_between(\"2026-11-23\", record.birthday)").unwrap(),
            json!(-13142)
        );
        assert_eq!(eval("days_between(now, \"2026-12-01\")").unwrap(), json!(8));
        assert_eq!(eval("round(2.345, 2)").unwrap(), json!(2.35));
        assert_eq!(eval("round(7, 2)").unwrap(), json!(7));
        assert_eq!(eval("()").unwrap(), Value::Null);
        assert_eq!(
            eval("[1, \"a\", true, #{x: 1.5}]").unwrap(),
            json!([1, "a", true, {"x": 1.5}])
        );
        assert_eq!(eval("record.tags.len()").unwrap(), json!(1));
        assert_eq!(eval("record.missing").unwrap(), Value::Null);
    }

    #[test]
    fn today_is_not_available() {
        let e = eval("today()").unwrap_err();
        assert_eq!(e.code(), ErrorCode::ScriptRuntime, "{e}");
    }

    #[test]
    fn infinite_loop_hits_a_limit() {
        let e = eval("loop {}").unwrap_err();
        assert_eq!(e.code(), ErrorCode::ScriptLimit, "{e}");
    }

    #[test]
    fn wall_clock_limit_stops_a_slow_script() {
        let sandbox = Sandbox::new(ScriptLimits {
            max_operations: u64::MAX,
            max_duration: Duration::from_millis(20),
            ..ScriptLimits::default()
        });
        let started = Instant::now();
        let e = sandbox.eval_expr("loop {}", &Map::new(), now()).unwrap_err();
        assert!(
            matches!(&e, ScriptError::Limit { message } if message.contains("ms")),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        // The deadline does not leak into the next run on this thread.
        assert_eq!(sandbox.eval_expr("1 + 1", &Map::new(), now()).unwrap(), json!(2));
    }

    /// A host whose every read takes `delay`.
    struct SlowHost {
        delay: Duration,
    }

    impl crate::script::host::Host for SlowHost {
        fn find(&self, _: &str, _: Value, _: u32) -> Result<Vec<Value>, String> {
            std::thread::sleep(self.delay);
            Ok(vec![json!({"n": 1})])
        }
        fn count(&self, _: &str, _: Value) -> Result<i64, String> {
            Ok(1)
        }
        fn sum(&self, _: &str, _: &str, _: Value) -> Result<f64, String> {
            Ok(1.0)
        }
    }

    fn run_with_slow_host(src: &str, delay: Duration) -> Result<Value, ScriptError> {
        let sandbox = Sandbox::new(ScriptLimits {
            max_duration: Duration::from_millis(50),
            ..ScriptLimits::default()
        });
        let ast = sandbox.compile_rule(src).unwrap();
        let host: Arc<dyn crate::script::host::Host> = Arc::new(SlowHost { delay });
        let state = crate::script::host::RunState::new(now(), now().date_naive(), Some(host));
        sandbox.run_rule(&ast, None, None, state).0
    }

    #[test]
    fn time_spent_in_reads_is_off_the_clock() {
        // Three reads of 40 ms each: 120 ms in all, over the 50 ms limit,
        // yet the script's own work is tiny.
        let out = run_with_slow_host(
            "let n = 0; for i in 0..3 { n += find(\"f\", (), 1).len(); } n",
            Duration::from_millis(40),
        );
        assert_eq!(out.unwrap(), json!(3));
        // The script's own looping is still stopped by the clock.
        let e = run_with_slow_host("find(\"f\", (), 1); loop {}", Duration::from_millis(5)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ScriptLimit, "{e}");
    }

    #[test]
    fn reads_per_run_are_bounded() {
        let e = run_with_slow_host("loop { count(\"f\", ()); }", Duration::ZERO).unwrap_err();
        assert!(e.to_string().contains("reads"), "{e}");
    }

    #[test]
    fn deep_recursion_hits_a_limit() {
        let e = eval("fn f(x) { f(x + 1) } f(0)").unwrap_err();
        assert_eq!(e.code(), ErrorCode::ScriptLimit, "{e}");
    }

    #[test]
    fn huge_string_hits_a_limit() {
        let e = eval("let s = \"xxxxxxxx\"; loop { s += s; }").unwrap_err();
        assert_eq!(e.code(), ErrorCode::ScriptLimit, "{e}");
    }

    #[test]
    fn deep_expression_hits_a_limit() {
        let src = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        let e = Sandbox::default().check(&src).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ScriptLimit, "{e}");
    }

    #[test]
    fn import_and_eval_are_refused() {
        let s = Sandbox::default();
        assert!(s.check("import \"x\" as y; 1").is_err());
        assert!(eval("import \"x\" as y; 1").is_err());
        assert_eq!(
            s.check("eval(\"1\")").unwrap_err().code(),
            ErrorCode::ScriptCompile
        );
        assert!(eval("eval(\"1\")").is_err());
    }

    #[test]
    fn unknown_variables_are_compile_errors() {
        let e = Sandbox::default().check("recrd.qty").unwrap_err();
        assert_eq!(e.code(), ErrorCode::ScriptCompile, "{e}");
    }

    #[test]
    fn syntax_error_has_line_and_col() {
        let e = Sandbox::default().check("let a = 1;\nlet b = ;").unwrap_err();
        match e {
            ScriptError::Compile { line, col, message } => {
                assert_eq!(line, Some(2), "{message}");
                assert!(col.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn runtime_error_has_position() {
        let e = eval("let x = 1;\nx / 0").unwrap_err();
        assert!(matches!(e, ScriptError::Runtime { line: Some(2), .. }), "{e:?}");
    }

    #[test]
    fn record_is_read_only() {
        assert!(eval("record.qty = 5; record.qty").is_err());
    }

    #[test]
    fn cache_is_bounded() {
        let s = Sandbox::default();
        for i in 0..(AST_CACHE_CAPACITY + 10) {
            s.check(&format!("{i} + 1")).unwrap();
        }
        assert!(s.cache.read().unwrap().len() <= AST_CACHE_CAPACITY);
    }

    #[test]
    fn sandbox_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Sandbox>();
    }
}
