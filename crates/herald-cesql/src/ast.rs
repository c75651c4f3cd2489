//! The syntax tree of a parsed expression, and how it is written back as text.

use std::fmt;

use crate::functions::Function;
use crate::like::LikePattern;
use crate::value::Value;

/// A node of the syntax tree.
///
/// Binary operators of one precedence level form a [`Node::Chain`], evaluated from left
/// to right, so a long `a OR b OR c …` list is one wide node rather than a deep tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Literal(Value),
    Attribute(String),
    Exists(String),
    Not(Box<Node>),
    Negate(Box<Node>),
    Chain(Box<Node>, Vec<(BinaryOperator, Node)>),
    Like { operand: Box<Node>, pattern: LikePattern, negated: bool },
    In { operand: Box<Node>, set: Vec<Node>, negated: bool },
    Call { name: String, function: Option<Function>, arguments: Vec<Node> },
}

/// A binary operator, grouped by what it computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryOperator {
    Logic(LogicOperator),
    Compare(CompareOperator),
    Arithmetic(ArithmeticOperator),
}

/// `AND`, `OR` and `XOR`: Boolean × Boolean → Boolean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogicOperator {
    And,
    Or,
    Xor,
}

/// `=`, `!=` (also written `<>`), `<`, `<=`, `>` and `>=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CompareOperator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// `+`, `-`, `*`, `/` and `%`: Integer × Integer → Integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArithmeticOperator {
    Add,
    Subtract,
    Multiply,
    Divide,
    Remainder,
}

impl BinaryOperator {
    fn symbol(self) -> &'static str {
        match self {
            BinaryOperator::Logic(LogicOperator::And) => "AND",
            BinaryOperator::Logic(LogicOperator::Or) => "OR",
            BinaryOperator::Logic(LogicOperator::Xor) => "XOR",
            BinaryOperator::Compare(CompareOperator::Equal) => "=",
            BinaryOperator::Compare(CompareOperator::NotEqual) => "!=",
            BinaryOperator::Compare(CompareOperator::Less) => "<",
            BinaryOperator::Compare(CompareOperator::LessOrEqual) => "<=",
            BinaryOperator::Compare(CompareOperator::Greater) => ">",
            BinaryOperator::Compare(CompareOperator::GreaterOrEqual) => ">=",
            BinaryOperator::Arithmetic(arithmetic) => arithmetic.symbol(),
        }
    }
}

impl ArithmeticOperator {
    /// Returns the operator as it is written.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            ArithmeticOperator::Add => "+",
            ArithmeticOperator::Subtract => "-",
            ArithmeticOperator::Multiply => "*",
            ArithmeticOperator::Divide => "/",
            ArithmeticOperator::Remainder => "%",
        }
    }
}

/// Writes the node fully parenthesised, so the text parses back to the same tree.
impl fmt::Display for Node {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Literal(value) => write!(formatter, "{value}"),
            Node::Attribute(name) => formatter.write_str(name),
            Node::Exists(name) => write!(formatter, "(EXISTS {name})"),
            Node::Not(operand) => write!(formatter, "NOT {operand}"),
            // The space keeps `- 5` apart from the literal `-5`. No parentheses: they
            // would cost the parser two levels of recursion per negation, so a deep
            // `- - - x` printed as `-(-(-(x)))` would no longer parse (a chain operand
            // prints its own).
            Node::Negate(operand) => write!(formatter, "- {operand}"),
            Node::Chain(first, rest) => {
                write!(formatter, "({first}")?;
                for (operator, operand) in rest {
                    write!(formatter, " {} {operand}", operator.symbol())?;
                }
                formatter.write_str(")")
            }
            Node::Like { operand, pattern, negated } => {
                let not = if *negated { "NOT " } else { "" };
                let pattern = Value::String(pattern.source().to_owned());
                write!(formatter, "({operand} {not}LIKE {pattern})")
            }
            Node::In { operand, set, negated } => {
                let not = if *negated { "NOT " } else { "" };
                write!(formatter, "({operand} {not}IN (")?;
                write_list(formatter, set)?;
                formatter.write_str("))")
            }
            Node::Call { name, arguments, .. } => {
                write!(formatter, "{name}(")?;
                write_list(formatter, arguments)?;
                formatter.write_str(")")
            }
        }
    }
}

fn write_list(formatter: &mut fmt::Formatter<'_>, nodes: &[Node]) -> fmt::Result {
    for (index, node) in nodes.iter().enumerate() {
        if index > 0 {
            formatter.write_str(", ")?;
        }
        write!(formatter, "{node}")?;
    }
    Ok(())
}
