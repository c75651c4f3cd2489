//! Evaluation of a syntax tree against an event (spec sections 3.2 to 3.7).
//!
//! Every node yields a value. A node that raises an error still yields the value the spec
//! defines for it (`5 / 0` is `0`, `ABS(-2147483648)` is `2147483647`) and records the
//! error. A node whose operand failed does not compute: it yields the zero value of its
//! return type and raises no error of its own. This is the spec's rule for
//! missing attributes (`1 / missing` is `0` with a MissingAttributeError, and no
//! MathError), applied to every error, and it is what the TCK expects: in
//! `TRUE AND (1 != 1 / 0)` the comparison yields `false` after the MathError.
//!
//! A cast that fails inside an operator or a function records a CastError, and the
//! operator or function yields its zero value.

use crate::ast::{ArithmeticOperator, BinaryOperator, CompareOperator, LogicOperator, Node};
use crate::error::EvaluationError;
use crate::expression::Attributes;
use crate::functions::Function;
use crate::like::LikePattern;
use crate::value::{Value, ValueType};

/// Evaluates `node` and returns its value with the errors raised on the way.
pub(crate) fn evaluate(node: &Node, event: &dyn Attributes) -> (Value, Vec<EvaluationError>) {
    let mut evaluator = Evaluator { event, errors: Vec::new() };
    let outcome = evaluator.eval(node);
    (outcome.value, evaluator.errors)
}

/// The value of a node, and whether the node or one of its operands raised an error.
struct Outcome {
    value: Value,
    failed: bool,
}

impl Outcome {
    fn ok(value: Value) -> Outcome {
        Outcome { value, failed: false }
    }

    /// The result of a node whose operand failed or whose cast failed.
    fn zero(return_type: ValueType) -> Outcome {
        Outcome { value: return_type.zero(), failed: true }
    }
}

struct Evaluator<'e> {
    event: &'e dyn Attributes,
    errors: Vec<EvaluationError>,
}

impl Evaluator<'_> {
    fn eval(&mut self, node: &Node) -> Outcome {
        match node {
            Node::Literal(value) => Outcome::ok(value.clone()),
            Node::Attribute(name) => self.attribute(name),
            Node::Exists(name) => Outcome::ok(Value::Boolean(self.event.attribute(name).is_some())),
            Node::Not(operand) => {
                let operand = self.eval(operand);
                self.boolean(&operand).map_or(Outcome::zero(ValueType::Boolean), |flag| {
                    Outcome::ok(Value::Boolean(!flag))
                })
            }
            Node::Negate(operand) => {
                let operand = self.eval(operand);
                match self.integer(&operand) {
                    Some(number) => self.checked(-i64::from(number), || format!("-({number})")),
                    None => Outcome::zero(ValueType::Integer),
                }
            }
            Node::Chain(first, rest) => self.chain(first, rest),
            Node::Like { operand, pattern, negated } => self.like(operand, pattern, *negated),
            Node::In { operand, set, negated } => self.is_in(operand, set, *negated),
            Node::Call { name, function, arguments } => self.call(name, *function, arguments),
        }
    }

    /// Reads an attribute; a missing one yields `false`, the zero value of the Boolean type
    /// the spec assumes when the type of a subexpression is unknown (section 3.2).
    fn attribute(&mut self, name: &str) -> Outcome {
        match self.event.attribute(name) {
            Some(value) => Outcome::ok(value),
            None => self.fail(EvaluationError::MissingAttribute { name: name.to_owned() }, false),
        }
    }

    /// Folds a chain of operators of one level from left to right.
    fn chain(&mut self, first: &Node, rest: &[(BinaryOperator, Node)]) -> Outcome {
        let mut accumulated = self.eval(first);
        for (operator, operand) in rest {
            accumulated = match operator {
                BinaryOperator::Logic(logic) => self.logic(*logic, &accumulated, operand),
                BinaryOperator::Compare(compare) => {
                    let right = self.eval(operand);
                    self.compare(*compare, &accumulated, &right)
                }
                BinaryOperator::Arithmetic(arithmetic) => {
                    let right = self.eval(operand);
                    self.arithmetic(*arithmetic, &accumulated, &right)
                }
            };
        }
        accumulated
    }

    /// AND, OR and XOR. AND skips its right operand after `false`, OR after `true`; a
    /// failed left operand has the value `false`, so AND skips the right one after it too.
    fn logic(&mut self, operator: LogicOperator, left: &Outcome, right: &Node) -> Outcome {
        let left = self.boolean(left);
        match (operator, left) {
            (LogicOperator::And, None) => return Outcome::zero(ValueType::Boolean),
            (LogicOperator::And, Some(false)) => return Outcome::ok(Value::Boolean(false)),
            (LogicOperator::Or, Some(true)) => return Outcome::ok(Value::Boolean(true)),
            _ => {}
        }
        let right = self.eval(right);
        let (Some(left), Some(right)) = (left, self.boolean(&right)) else {
            return Outcome::zero(ValueType::Boolean);
        };
        Outcome::ok(Value::Boolean(match operator {
            LogicOperator::And => left && right,
            LogicOperator::Or => left || right,
            LogicOperator::Xor => left != right,
        }))
    }

    /// The comparison operators. `=` and `!=` are defined for every type, so the left
    /// operand is cast to the type of the right one (section 3.7); the others compare
    /// integers.
    fn compare(&mut self, operator: CompareOperator, left: &Outcome, right: &Outcome) -> Outcome {
        let result = match operator {
            CompareOperator::Equal => self.equal(left, right),
            CompareOperator::NotEqual => self.equal(left, right).map(|equal| !equal),
            ordering => {
                let (left, right) = (self.integer(left), self.integer(right));
                left.zip(right).map(|(left, right)| match ordering {
                    CompareOperator::Less => left < right,
                    CompareOperator::LessOrEqual => left <= right,
                    CompareOperator::Greater => left > right,
                    _ => left >= right,
                })
            }
        };
        result.map_or(Outcome::zero(ValueType::Boolean), |flag| Outcome::ok(Value::Boolean(flag)))
    }

    fn equal(&mut self, left: &Outcome, right: &Outcome) -> Option<bool> {
        if left.failed || right.failed {
            return None;
        }
        let left = self.cast(&left.value, right.value.value_type())?;
        Some(left == right.value)
    }

    /// `+`, `-`, `*`, `/` and `%`, computed in 64 bits and checked against the 32-bit range.
    fn arithmetic(
        &mut self,
        operator: ArithmeticOperator,
        left: &Outcome,
        right: &Outcome,
    ) -> Outcome {
        let (Some(left), Some(right)) = (self.integer(left), self.integer(right)) else {
            return Outcome::zero(ValueType::Integer);
        };
        let describe = || format!("{left} {} {right}", operator.symbol());
        let (left, right) = (i64::from(left), i64::from(right));
        let wide = match operator {
            ArithmeticOperator::Add => left + right,
            ArithmeticOperator::Subtract => left - right,
            ArithmeticOperator::Multiply => left * right,
            ArithmeticOperator::Divide | ArithmeticOperator::Remainder if right == 0 => {
                let reason = format!("{} divides by zero; returned 0", describe());
                return self.fail(EvaluationError::Math { reason }, 0);
            }
            // Rust's `/` and `%` truncate towards zero, so the remainder has the sign of the
            // dividend, as the spec requires.
            ArithmeticOperator::Divide => left / right,
            ArithmeticOperator::Remainder => left % right,
        };
        self.checked(wide, describe)
    }

    /// Returns an integer result, or the nearest 32-bit value and a MathError on overflow,
    /// as ABS does in the spec. `describe` writes the operation for the error message.
    fn checked(&mut self, wide: i64, describe: impl FnOnce() -> String) -> Outcome {
        match i32::try_from(wide) {
            Ok(number) => Outcome::ok(Value::Integer(number)),
            Err(_) => {
                let clamped = if wide > 0 { i32::MAX } else { i32::MIN };
                let reason = format!(
                    "{} is {wide}, outside the 32-bit range; returned {clamped}",
                    describe()
                );
                self.fail(EvaluationError::Math { reason }, clamped)
            }
        }
    }

    /// `x [NOT] LIKE pattern`: the operand is cast to String, which never fails.
    fn like(&mut self, operand: &Node, pattern: &LikePattern, negated: bool) -> Outcome {
        let operand = self.eval(operand);
        if operand.failed {
            return Outcome::zero(ValueType::Boolean);
        }
        let matched = pattern.matches(&operand.value.to_cesql_string());
        Outcome::ok(Value::Boolean(matched != negated))
    }

    /// `x [NOT] IN (y1, …)`: each `y` is cast to the type of `x`, then compared with `=`.
    fn is_in(&mut self, operand: &Node, set: &[Node], negated: bool) -> Outcome {
        let operand = self.eval(operand);
        let elements: Vec<Outcome> = set.iter().map(|element| self.eval(element)).collect();
        if operand.failed || elements.iter().any(|element| element.failed) {
            return Outcome::zero(ValueType::Boolean);
        }
        let target = operand.value.value_type();
        let mut found = false;
        let mut cast_failed = false;
        for element in elements {
            match self.cast(&element.value, target) {
                Some(value) => found |= value == operand.value,
                None => cast_failed = true,
            }
        }
        if cast_failed {
            return Outcome::zero(ValueType::Boolean);
        }
        Outcome::ok(Value::Boolean(found != negated))
    }

    /// Calls a function; an unknown name or arity yields `false` (section 3.5).
    fn call(&mut self, name: &str, function: Option<Function>, arguments: &[Node]) -> Outcome {
        let Some(function) = function else {
            let error =
                EvaluationError::MissingFunction { name: name.to_owned(), arity: arguments.len() };
            return self.fail(error, false);
        };
        let outcomes: Vec<Outcome> = arguments.iter().map(|argument| self.eval(argument)).collect();
        if outcomes.iter().any(|outcome| outcome.failed) {
            return Outcome::zero(function.return_type());
        }
        let values: Vec<Option<Value>> = outcomes
            .into_iter()
            .enumerate()
            .map(|(index, outcome)| match function.parameter_type(index) {
                Some(target) => self.cast(&outcome.value, target),
                None => Some(outcome.value),
            })
            .collect();
        let Some(values) = values.into_iter().collect::<Option<Vec<Value>>>() else {
            return Outcome::zero(function.return_type());
        };
        match function.call(&values) {
            (value, None) => Outcome::ok(value),
            (value, Some(error)) => self.fail(error, value),
        }
    }

    /// Casts an operand to Boolean; `None` if it failed before or the cast fails.
    fn boolean(&mut self, outcome: &Outcome) -> Option<bool> {
        if outcome.failed {
            return None;
        }
        self.record(outcome.value.to_boolean())
    }

    /// Casts an operand to Integer; `None` if it failed before or the cast fails.
    fn integer(&mut self, outcome: &Outcome) -> Option<i32> {
        if outcome.failed {
            return None;
        }
        self.record(outcome.value.to_integer())
    }

    fn cast(&mut self, value: &Value, target: ValueType) -> Option<Value> {
        self.record(value.cast(target))
    }

    fn record<T>(&mut self, result: Result<T, EvaluationError>) -> Option<T> {
        result.map_err(|error| self.errors.push(error)).ok()
    }

    fn fail(&mut self, error: EvaluationError, value: impl Into<Value>) -> Outcome {
        self.errors.push(error);
        Outcome { value: value.into(), failed: true }
    }
}
