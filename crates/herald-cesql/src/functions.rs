//! The built-in functions (spec section 3.5) and the casting functions.
//!
//! Spec section 3.5 lists LENGTH, CONCAT, CONCAT_WS, LOWER, UPPER, TRIM, LEFT, RIGHT,
//! SUBSTRING (two overloads) and ABS. INT, BOOL and STRING cast their argument with the
//! semantics of section 3.7, which the spec refers to by those names; IS_INT and IS_BOOL
//! tell whether INT and BOOL would succeed. The TCK uses them, and other SDKs ship them.
//!
//! The evaluator casts arguments to the parameter types before [`Function::call`] runs,
//! so the functions here see values of the right type. Lengths and positions count
//! Unicode characters, not bytes.

use crate::error::EvaluationError;
use crate::value::{Value, ValueType};

/// A built-in function, resolved from its name and number of arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Function {
    Abs,
    Length,
    Concat,
    ConcatWs,
    Lower,
    Upper,
    Trim,
    Left,
    Right,
    Substring,
    Int,
    Bool,
    String,
    IsInt,
    IsBool,
}

/// A function's result: its value, and the error it raised, if any.
pub(crate) type Returned = (Value, Option<EvaluationError>);

impl Function {
    /// Finds the function called `name` (in upper case) that takes `arity` arguments.
    pub(crate) fn resolve(name: &str, arity: usize) -> Option<Function> {
        let function = match name {
            "ABS" => Function::Abs,
            "LENGTH" => Function::Length,
            "CONCAT" => Function::Concat,
            "CONCAT_WS" => Function::ConcatWs,
            "LOWER" => Function::Lower,
            "UPPER" => Function::Upper,
            "TRIM" => Function::Trim,
            "LEFT" => Function::Left,
            "RIGHT" => Function::Right,
            "SUBSTRING" => Function::Substring,
            "INT" => Function::Int,
            "BOOL" => Function::Bool,
            "STRING" => Function::String,
            "IS_INT" => Function::IsInt,
            "IS_BOOL" => Function::IsBool,
            _ => return None,
        };
        function.accepts(arity).then_some(function)
    }

    fn accepts(self, arity: usize) -> bool {
        match self {
            Function::Concat => true,
            Function::ConcatWs => arity >= 1,
            Function::Left | Function::Right => arity == 2,
            Function::Substring => arity == 2 || arity == 3,
            _ => arity == 1,
        }
    }

    /// Returns the type the function returns, whose zero value it returns on failure.
    pub(crate) fn return_type(self) -> ValueType {
        match self {
            Function::Abs | Function::Length | Function::Int => ValueType::Integer,
            Function::Bool | Function::IsInt | Function::IsBool => ValueType::Boolean,
            _ => ValueType::String,
        }
    }

    /// Returns the type of the argument at `index`, or `None` when any type is accepted.
    pub(crate) fn parameter_type(self, index: usize) -> Option<ValueType> {
        match (self, index) {
            (Function::Int | Function::Bool | Function::String, _) => None,
            (Function::IsInt | Function::IsBool, _) => None,
            (Function::Abs, _) => Some(ValueType::Integer),
            (Function::Left | Function::Right | Function::Substring, 1 | 2) => {
                Some(ValueType::Integer)
            }
            _ => Some(ValueType::String),
        }
    }

    /// Computes the function on arguments already cast to the parameter types.
    pub(crate) fn call(self, arguments: &[Value]) -> Returned {
        let text = || string_argument(arguments, 0);
        let integer = |index| integer_argument(arguments, index);
        match self {
            Function::Abs => abs(integer(0)),
            Function::Length => {
                let length = i32::try_from(text().chars().count()).unwrap_or(i32::MAX);
                (Value::Integer(length), None)
            }
            Function::Concat => (Value::String(strings(arguments).concat()), None),
            Function::ConcatWs => {
                let separator = text();
                (
                    Value::String(strings(arguments.get(1..).unwrap_or_default()).join(separator)),
                    None,
                )
            }
            Function::Lower => (Value::String(text().to_lowercase()), None),
            Function::Upper => (Value::String(text().to_uppercase()), None),
            Function::Trim => (Value::String(text().trim().to_owned()), None),
            Function::Left => left(text(), integer(1)),
            Function::Right => right(text(), integer(1)),
            Function::Substring => {
                let length = (arguments.len() == 3).then(|| integer(2));
                substring(text(), integer(1), length)
            }
            Function::Int => cast(arguments, ValueType::Integer),
            Function::Bool => cast(arguments, ValueType::Boolean),
            Function::String => cast(arguments, ValueType::String),
            Function::IsInt => can_cast(arguments, ValueType::Integer),
            Function::IsBool => can_cast(arguments, ValueType::Boolean),
        }
    }

    /// Returns the function's name, as it is written in upper case.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Function::Abs => "ABS",
            Function::Length => "LENGTH",
            Function::Concat => "CONCAT",
            Function::ConcatWs => "CONCAT_WS",
            Function::Lower => "LOWER",
            Function::Upper => "UPPER",
            Function::Trim => "TRIM",
            Function::Left => "LEFT",
            Function::Right => "RIGHT",
            Function::Substring => "SUBSTRING",
            Function::Int => "INT",
            Function::Bool => "BOOL",
            Function::String => "STRING",
            Function::IsInt => "IS_INT",
            Function::IsBool => "IS_BOOL",
        }
    }
}

/// Reads a String argument; the evaluator has cast it already, so the fallback is unused.
fn string_argument(arguments: &[Value], index: usize) -> &str {
    match arguments.get(index) {
        Some(Value::String(text)) => text,
        _ => "",
    }
}

/// Reads an Integer argument; the evaluator has cast it already, so the fallback is unused.
fn integer_argument(arguments: &[Value], index: usize) -> i32 {
    match arguments.get(index) {
        Some(Value::Integer(number)) => *number,
        _ => 0,
    }
}

fn strings(arguments: &[Value]) -> Vec<&str> {
    (0..arguments.len()).map(|index| string_argument(arguments, index)).collect()
}

fn evaluation_error(function: Function, reason: String) -> Option<EvaluationError> {
    Some(EvaluationError::FunctionEvaluation { function: function.name(), reason })
}

/// ABS(x): the absolute value; `-2147483648` gives `2147483647` and a MathError.
fn abs(number: i32) -> Returned {
    match number.checked_abs() {
        Some(absolute) => (Value::Integer(absolute), None),
        None => {
            let reason =
                format!("ABS({number}) is outside the 32-bit range; returned {}", i32::MAX);
            (Value::Integer(i32::MAX), Some(EvaluationError::Math { reason }))
        }
    }
}

/// LEFT(x, y): the first `y` characters; `x` itself and an error if `y < 0`.
fn left(text: &str, count: i32) -> Returned {
    match usize::try_from(count) {
        Ok(count) => (Value::String(text.chars().take(count).collect()), None),
        Err(_) => {
            let reason = format!("length {count} is negative, expected 0 or more; returned x");
            (Value::String(text.to_owned()), evaluation_error(Function::Left, reason))
        }
    }
}

/// RIGHT(x, y): the last `y` characters; `x` itself and an error if `y < 0`.
fn right(text: &str, count: i32) -> Returned {
    match usize::try_from(count) {
        Ok(count) => {
            let skipped = text.chars().count().saturating_sub(count);
            (Value::String(text.chars().skip(skipped).collect()), None)
        }
        Err(_) => {
            let reason = format!("length {count} is negative, expected 0 or more; returned x");
            (Value::String(text.to_owned()), evaluation_error(Function::Right, reason))
        }
    }
}

/// SUBSTRING(x, pos) and SUBSTRING(x, pos, len).
///
/// `pos` counts from 1, or from the end when negative; `0` gives the empty string. A `pos`
/// outside `-LENGTH(x)..=LENGTH(x)` or a negative `len` gives `""` and an error.
fn substring(text: &str, position: i32, length: Option<i32>) -> Returned {
    let count = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
    let position = i64::from(position);
    if position > count || position < -count {
        let reason = format!(
            "position {position} is outside the string of {count} characters, expected \
             -{count} to {count}; returned ''"
        );
        return (ValueType::String.zero(), evaluation_error(Function::Substring, reason));
    }
    if let Some(length) = length.filter(|length| *length < 0) {
        let reason = format!("length {length} is negative, expected 0 or more; returned ''");
        return (ValueType::String.zero(), evaluation_error(Function::Substring, reason));
    }
    if position == 0 {
        return (ValueType::String.zero(), None);
    }
    let start = if position > 0 { position - 1 } else { count + position };
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    let taken = length.map_or(usize::MAX, |length| usize::try_from(length).unwrap_or(0));
    (Value::String(text.chars().skip(start).take(taken).collect()), None)
}

/// INT, BOOL and STRING: the cast of section 3.7, with its zero value on failure.
fn cast(arguments: &[Value], target: ValueType) -> Returned {
    match arguments.first().map(|value| value.cast(target)) {
        Some(Ok(value)) => (value, None),
        Some(Err(error)) => (target.zero(), Some(error)),
        None => (target.zero(), None),
    }
}

/// IS_INT and IS_BOOL: whether INT or BOOL would succeed on the argument.
fn can_cast(arguments: &[Value], target: ValueType) -> Returned {
    let castable = arguments.first().is_some_and(|value| value.cast(target).is_ok());
    (Value::Boolean(castable), None)
}
