//! CESQL values, their types and the casts between them (spec sections 3.1 and 3.7).

use std::fmt;

use crate::error::EvaluationError;

/// The longest value, in characters, that an error message quotes before truncating it.
const MAX_SHOWN_CHARS: usize = 64;

/// A CESQL value: the result of an expression, an operand, or an event attribute.
///
/// CESQL has three primitive types. CloudEvents attributes of type URI, URI-reference and
/// Timestamp are represented as [`Value::String`] (spec section 3.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// A sequence of Unicode characters.
    String(String),
    /// A signed 32-bit integer, from -2,147,483,648 to 2,147,483,647.
    Integer(i32),
    /// `true` or `false`.
    Boolean(bool),
}

/// The type of a [`Value`], used in cast errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// The type of [`Value::String`].
    String,
    /// The type of [`Value::Integer`].
    Integer,
    /// The type of [`Value::Boolean`].
    Boolean,
}

impl ValueType {
    /// Returns the zero value of the type: `""`, `0` or `false` (spec section 3.1).
    ///
    /// An operator or function that fails returns the zero value of its return type.
    pub fn zero(self) -> Value {
        match self {
            ValueType::String => Value::String(String::new()),
            ValueType::Integer => Value::Integer(0),
            ValueType::Boolean => Value::Boolean(false),
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            ValueType::String => "String",
            ValueType::Integer => "Integer",
            ValueType::Boolean => "Boolean",
        })
    }
}

impl Value {
    /// Returns the type of the value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::String(_) => ValueType::String,
            Value::Integer(_) => ValueType::Integer,
            Value::Boolean(_) => ValueType::Boolean,
        }
    }

    /// Casts the value to `target` with the semantics of spec section 3.7.
    ///
    /// On failure the caller uses `target.zero()` as the cast result, as the spec says.
    pub(crate) fn cast(&self, target: ValueType) -> Result<Value, EvaluationError> {
        Ok(match target {
            ValueType::String => Value::String(self.to_cesql_string()),
            ValueType::Integer => Value::Integer(self.to_integer()?),
            ValueType::Boolean => Value::Boolean(self.to_boolean()?),
        })
    }

    /// Casts to String: integers in base 10, booleans as `true` or `false`. Never fails.
    pub(crate) fn to_cesql_string(&self) -> String {
        match self {
            Value::String(text) => text.clone(),
            Value::Integer(number) => number.to_string(),
            Value::Boolean(flag) => flag.to_string(),
        }
    }

    /// Casts to Integer: a base-10 string with an optional sign, `1` for `true`, `0` for `false`.
    pub(crate) fn to_integer(&self) -> Result<i32, EvaluationError> {
        match self {
            Value::String(text) => text.parse::<i32>().map_err(|_| {
                self.cast_error(
                    ValueType::Integer,
                    "expected a base-10 32-bit integer with an optional sign",
                )
            }),
            Value::Integer(number) => Ok(*number),
            Value::Boolean(flag) => Ok(i32::from(*flag)),
        }
    }

    /// Casts to Boolean: `true` or `false` in any letter case, and integers by `!= 0`.
    pub(crate) fn to_boolean(&self) -> Result<bool, EvaluationError> {
        match self {
            Value::String(text) => match text.to_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.cast_error(
                    ValueType::Boolean,
                    "expected `true` or `false` in any letter case",
                )),
            },
            Value::Integer(number) => Ok(*number != 0),
            Value::Boolean(flag) => Ok(*flag),
        }
    }

    fn cast_error(&self, target: ValueType, reason: &'static str) -> EvaluationError {
        EvaluationError::Cast { value: truncated(&self.to_string()), target, reason }
    }
}

/// Writes the value as a CESQL literal: `'text'`, `42` or `TRUE`.
impl fmt::Display for Value {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(text) => write_string_literal(formatter, text),
            Value::Integer(number) => write!(formatter, "{number}"),
            Value::Boolean(true) => formatter.write_str("TRUE"),
            Value::Boolean(false) => formatter.write_str("FALSE"),
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::String(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::String(text)
    }
}

impl From<i32> for Value {
    fn from(number: i32) -> Self {
        Value::Integer(number)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Boolean(flag)
    }
}

/// Writes `text` as a string literal that the lexer reads back as `text`.
///
/// The lexer takes a backslash and the character after it as a pair, and turns only a
/// backslash before the delimiter into the delimiter. So the delimiter is escaped, and a
/// quote kind is picked under which no run of backslashes ends up escaping the closing
/// quote. Every string that came from a literal fits one of the two kinds.
fn write_string_literal(formatter: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let quote = if fits_quote(text, '\'') || !fits_quote(text, '"') { '\'' } else { '"' };
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push(quote);
    for character in text.chars() {
        if character == quote {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped.push(quote);
    formatter.write_str(&escaped)
}

/// Tells whether every run of backslashes followed by `quote`, or by the end, is even.
fn fits_quote(text: &str, quote: char) -> bool {
    let mut run = 0_usize;
    for character in text.chars() {
        if character == '\\' {
            run += 1;
            continue;
        }
        if character == quote && !run.is_multiple_of(2) {
            return false;
        }
        run = 0;
    }
    run.is_multiple_of(2)
}

/// Shortens `text` to about [`MAX_SHOWN_CHARS`] characters for an error message.
pub(crate) fn truncated(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
