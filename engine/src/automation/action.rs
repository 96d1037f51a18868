//! The declarative action registry: rules that need no code list actions
//! (`create_record`, `update_record`, `add_tag`, `remove_tag`, `notify`,
//! `email`, `webhook`), each of which becomes one [`Effect`].
//!
//! Any value inside an action may be `{"expr": "<rhai>"}`, evaluated over
//! `record` and `old` like a condition (`{"expr": "record.email"}`); strings
//! are taken as they are.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::meta::field_type::{Kinded, Registry, RegistryError};
use crate::script::{Effect, Sandbox, ScriptError};

/// The action kind registry, built once and then frozen.
pub type ActionKinds = Registry<dyn ActionKind>;

/// Evaluates one `{"expr"}` value for the current run.
pub type Eval<'a> = dyn FnMut(&str) -> Result<Value, ScriptError> + 'a;

/// What the action runs for: the rule's form and the triggering record.
pub struct ActionInput<'a> {
    /// The rule's form id.
    pub form_id: &'a str,
    /// The triggering record's id, when there is one.
    pub record_id: Option<&'a str>,
}

/// One declarative action kind.
pub trait ActionKind: Kinded + Send + Sync {
    /// Settings every action of this kind must have.
    fn required(&self) -> &'static [&'static str];
    /// Settings it may have besides those.
    fn optional(&self) -> &'static [&'static str];
    /// The effect of one action, its `{"expr"}` values resolved by `eval`.
    ///
    /// # Errors
    /// The expression's failure, or a sentence about a setting.
    fn effect(
        &self,
        cfg: &Map<String, Value>,
        input: &ActionInput<'_>,
        eval: &mut Eval<'_>,
    ) -> Result<Effect, String>;
}

/// Resolves `{"expr": ...}` values anywhere inside `v`.
///
/// # Errors
/// The first expression's failure, as one sentence.
pub fn resolve(v: &Value, eval: &mut Eval<'_>) -> Result<Value, String> {
    Ok(match v {
        Value::Object(m) if m.len() == 1 && m.get("expr").is_some_and(Value::is_string) => {
            let src = m.get("expr").and_then(Value::as_str).unwrap_or_default();
            eval(src).map_err(|e| e.to_string())?
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, eval)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(v, eval))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn text(cfg: &Map<String, Value>, key: &str, eval: &mut Eval<'_>) -> Result<String, String> {
    match resolve(cfg.get(key).unwrap_or(&Value::Null), eval)? {
        Value::String(s) => Ok(s),
        Value::Null => Err(format!("`{key}` is empty")),
        other => Ok(other.to_string()),
    }
}

fn values(cfg: &Map<String, Value>, eval: &mut Eval<'_>) -> Result<Map<String, Value>, String> {
    match resolve(cfg.get("values").unwrap_or(&Value::Null), eval)? {
        Value::Object(m) => Ok(m),
        _ => Err("`values` must be an object of field values".to_owned()),
    }
}

fn record_id(
    cfg: &Map<String, Value>,
    input: &ActionInput<'_>,
    eval: &mut Eval<'_>,
) -> Result<String, String> {
    if cfg.contains_key("id") {
        return text(cfg, "id", eval);
    }
    input
        .record_id
        .map(str::to_owned)
        .ok_or_else(|| "`id` is required when the rule has no triggering record".to_owned())
}

macro_rules! action {
    ($ty:ident, $kind:literal, [$($req:literal),*], [$($opt:literal),*], |$cfg:ident, $input:ident, $eval:ident| $body:expr) => {
        #[doc = concat!("The `", $kind, "` action.")]
        pub struct $ty;
        impl Kinded for $ty {
            fn kind(&self) -> &'static str {
                $kind
            }
        }
        impl ActionKind for $ty {
            fn required(&self) -> &'static [&'static str] {
                &[$($req),*]
            }
            fn optional(&self) -> &'static [&'static str] {
                &[$($opt),*]
            }
            fn effect(
                &self,
                $cfg: &Map<String, Value>,
                $input: &ActionInput<'_>,
                $eval: &mut Eval<'_>,
            ) -> Result<Effect, String> {
                $body
            }
        }
    };
}

action!(
    CreateRecord,
    "create_record",
    ["form", "values"],
    [],
    |cfg, _input, eval| {
        Ok(Effect::Create {
            form: text(cfg, "form", eval)?,
            data: values(cfg, eval)?,
        })
    }
);

action!(
    UpdateRecord,
    "update_record",
    ["values"],
    ["form", "id"],
    |cfg, input, eval| {
        let form = if cfg.contains_key("form") {
            text(cfg, "form", eval)?
        } else {
            input.form_id.to_owned()
        };
        Ok(Effect::Update {
            form,
            id: record_id(cfg, input, eval)?,
            data: values(cfg, eval)?,
        })
    }
);

action!(AddTag, "add_tag", ["name"], ["id"], |cfg, input, eval| {
    Ok(Effect::Tag {
        id: record_id(cfg, input, eval)?,
        name: text(cfg, "name", eval)?,
    })
});

action!(RemoveTag, "remove_tag", ["name"], ["id"], |cfg, input, eval| {
    Ok(Effect::Untag {
        id: record_id(cfg, input, eval)?,
        name: text(cfg, "name", eval)?,
    })
});

action!(
    Notify,
    "notify",
    ["to", "title"],
    ["body"],
    |cfg, _input, eval| {
        Ok(Effect::Notify {
            to: text(cfg, "to", eval)?,
            title: text(cfg, "title", eval)?,
            body: if cfg.contains_key("body") {
                text(cfg, "body", eval)?
            } else {
                String::new()
            },
        })
    }
);

action!(
    Email,
    "email",
    ["to", "subject", "body"],
    [],
    |cfg, _input, eval| {
        Ok(Effect::Email {
            to: text(cfg, "to", eval)?,
            subject: text(cfg, "subject", eval)?,
            body: text(cfg, "body", eval)?,
        })
    }
);

action!(Webhook, "webhook", ["name"], ["payload"], |cfg, _input, eval| {
    Ok(Effect::Webhook {
        name: text(cfg, "name", eval)?,
        payload: resolve(cfg.get("payload").unwrap_or(&Value::Null), eval)?,
    })
});

/// Checks one action's settings and compiles its expressions. Error fields
/// are JSON pointers from the rule (`/actions/2/values`).
#[must_use]
pub fn check(
    kind: &dyn ActionKind,
    index: usize,
    cfg: &Map<String, Value>,
    sandbox: &Sandbox,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let at = |k: &str| format!("/actions/{index}/{k}");
    for key in kind.required() {
        if !cfg.contains_key(*key) {
            errs.push(FieldError::new(at(key), "is required"));
        }
    }
    for key in cfg.keys() {
        let k = key.as_str();
        if k != "kind" && !kind.required().contains(&k) && !kind.optional().contains(&k) {
            errs.push(FieldError::new(at(k), "is not a setting of this action"));
        }
    }
    if let Some(values) = cfg.get("values")
        && !values.is_object()
    {
        errs.push(FieldError::new(at("values"), "must be an object of field values"));
    }
    for (key, v) in cfg {
        let mut failure = None;
        let mut compile = |src: &str| -> Result<Value, ScriptError> {
            if let Err(e) = sandbox.compile_rule(src)
                && failure.is_none()
            {
                failure = Some(e);
            }
            Ok(Value::Null)
        };
        let _ = resolve(v, &mut compile);
        if let Some(e) = failure {
            let (line, col) = match &e {
                ScriptError::Compile { line, col, .. } | ScriptError::Runtime { line, col, .. } => {
                    (*line, *col)
                }
                ScriptError::Limit { .. } => (None, None),
            };
            errs.push(FieldError::new(at(key), e.to_string()).at(line, col));
        }
    }
    errs
}

/// Every built-in action kind.
///
/// # Errors
/// [`RegistryError::Duplicate`] if two kinds collide (a bug).
pub fn builtin() -> Result<ActionKinds, RegistryError> {
    let mut r = ActionKinds::default();
    r.register(Arc::new(CreateRecord))?;
    r.register(Arc::new(UpdateRecord))?;
    r.register(Arc::new(AddTag))?;
    r.register(Arc::new(RemoveTag))?;
    r.register(Arc::new(Notify))?;
    r.register(Arc::new(Email))?;
    r.register(Arc::new(Webhook))?;
    Ok(r)
}
