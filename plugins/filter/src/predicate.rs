//! The predicate tree: parsed once from the config, evaluated per record
//! against the fields a [`Lookup`] found.

use std::cmp::Ordering;

use serde_json::{Map, Value};
use sluice_guest::Error;

use crate::compare::{self, Operand};
use crate::lookup::{Fields, Lookup, NodeId};

/// The predicate shapes, for error messages.
const SHAPE: &str = r#"{"field": "a.b", "op": "eq" | "ne" | "lt" | "gt" | "contains" | "in" | "exists", "value": <json>} (no "value" for "exists", an array for "in"), {"all": [<predicate>, ...]}, {"any": [<predicate>, ...]} or {"not": <predicate>}"#;

/// A comparison of one field with one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Contains,
}

#[derive(Debug)]
pub enum Predicate {
    /// The field is present (`null` counts).
    Exists(NodeId),
    Compare {
        field: NodeId,
        op: Op,
        operand: Operand,
    },
    /// The field equals one of the operands.
    In {
        field: NodeId,
        operands: Vec<Operand>,
    },
    /// Every predicate holds; at least one.
    All(Vec<Predicate>),
    /// Some predicate holds; at least one.
    Any(Vec<Predicate>),
    Not(Box<Predicate>),
}

impl Predicate {
    /// Evaluates against one record's fields. A missing field makes every
    /// comparison false except `ne`, which is true.
    pub fn eval(&self, fields: &Fields) -> bool {
        match self {
            Predicate::Exists(field) => fields.get(*field).is_some(),
            Predicate::Compare { field, op, operand } => match fields.get(*field) {
                None => *op == Op::Ne,
                Some(raw) => match op {
                    Op::Eq => compare::equals(raw, operand),
                    Op::Ne => !compare::equals(raw, operand),
                    Op::Lt => compare::order(raw, operand) == Some(Ordering::Less),
                    Op::Gt => compare::order(raw, operand) == Some(Ordering::Greater),
                    Op::Contains => compare::contains(raw, operand),
                },
            },
            Predicate::In { field, operands } => fields
                .get(*field)
                .is_some_and(|raw| operands.iter().any(|operand| compare::equals(raw, operand))),
            Predicate::All(predicates) => predicates.iter().all(|p| p.eval(fields)),
            Predicate::Any(predicates) => predicates.iter().any(|p| p.eval(fields)),
            Predicate::Not(predicate) => !predicate.eval(fields),
        }
    }

    /// Parses the predicate `value`, found at `at` in the config (for
    /// messages, e.g. `config.all[1]`), adding the fields it reads to
    /// `lookup`.
    ///
    /// # Errors
    ///
    /// `invalid-config` naming where the predicate is and what is wrong.
    pub fn parse(value: &Value, at: &str, lookup: &mut Lookup) -> Result<Self, Error> {
        let Value::Object(object) = value else {
            return Err(invalid(at, format!("is {value}, not an object")));
        };
        if ["field", "op", "value"]
            .iter()
            .any(|key| object.contains_key(*key))
        {
            return parse_comparison(object, at, lookup);
        }
        let mut keys = object.keys();
        let (Some(key), None) = (keys.next(), keys.next()) else {
            return Err(invalid(
                at,
                "must have exactly one of \"field\", \"all\", \"any\", \"not\"".to_owned(),
            ));
        };
        let inner = &object[key];
        match key.as_str() {
            "all" => Ok(Predicate::All(parse_list(
                inner,
                &format!("{at}.all"),
                lookup,
            )?)),
            "any" => Ok(Predicate::Any(parse_list(
                inner,
                &format!("{at}.any"),
                lookup,
            )?)),
            "not" => Ok(Predicate::Not(Box::new(Predicate::parse(
                inner,
                &format!("{at}.not"),
                lookup,
            )?))),
            other => Err(invalid(at, format!("has the unknown key {other:?}"))),
        }
    }
}

fn parse_list(value: &Value, at: &str, lookup: &mut Lookup) -> Result<Vec<Predicate>, Error> {
    let Value::Array(items) = value else {
        return Err(invalid(
            at,
            format!("is {value}, not an array of predicates"),
        ));
    };
    if items.is_empty() {
        return Err(invalid(
            at,
            "is empty; give at least one predicate".to_owned(),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| Predicate::parse(item, &format!("{at}[{index}]"), lookup))
        .collect()
}

fn parse_comparison(
    object: &Map<String, Value>,
    at: &str,
    lookup: &mut Lookup,
) -> Result<Predicate, Error> {
    if let Some(key) = object
        .keys()
        .find(|key| !["field", "op", "value"].contains(&key.as_str()))
    {
        return Err(invalid(at, format!("has the unknown key {key:?}")));
    }
    let Some(Value::String(field)) = object.get("field") else {
        return Err(invalid(
            at,
            "needs \"field\": a dotted path string such as \"a.b\"".to_owned(),
        ));
    };
    let path: Vec<String> = field.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(invalid(
            at,
            format!("has the field {field:?}, which has an empty path segment"),
        ));
    }
    let field = lookup.insert(&path);
    let Some(Value::String(op)) = object.get("op") else {
        return Err(invalid(at, "needs \"op\": a string".to_owned()));
    };
    let value = object.get("value");
    let op = match op.as_str() {
        "exists" => {
            return match value {
                None => Ok(Predicate::Exists(field)),
                Some(_) => Err(invalid(
                    at,
                    "has a \"value\", which \"exists\" does not take".to_owned(),
                )),
            };
        }
        "in" => {
            return match value {
                Some(Value::Array(items)) => Ok(Predicate::In {
                    field,
                    operands: items.iter().cloned().map(Operand::from).collect(),
                }),
                _ => Err(invalid(
                    at,
                    "needs an array \"value\" for \"in\"".to_owned(),
                )),
            };
        }
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "lt" => Op::Lt,
        "gt" => Op::Gt,
        "contains" => Op::Contains,
        other => return Err(invalid(at, format!("has the unknown op {other:?}"))),
    };
    let Some(value) = value else {
        return Err(invalid(
            at,
            format!("needs a \"value\" for {:?}", op_name(op)),
        ));
    };
    Ok(Predicate::Compare {
        field,
        op,
        operand: Operand::from(value.clone()),
    })
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Eq => "eq",
        Op::Ne => "ne",
        Op::Lt => "lt",
        Op::Gt => "gt",
        Op::Contains => "contains",
    }
}

fn invalid(at: &str, problem: String) -> Error {
    Error::invalid_config(format!("filter: {at} {problem}; a predicate is {SHAPE}"))
}
