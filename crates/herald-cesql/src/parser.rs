//! A recursive-descent parser for the grammar of spec section 2.
//!
//! Precedence follows spec section 3.6, from the loosest to the tightest binding:
//!
//! 1. `AND`, `OR`, `XOR`, all at one level, left to right: `a OR b AND c` is
//!    `(a OR b) AND c`;
//! 2. `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`;
//! 3. `+`, `-`;
//! 4. `*`, `/`, `%`;
//! 5. the postfix `[NOT] IN (…)` and `[NOT] LIKE '…'`, applied left to right;
//! 6. the prefix `NOT` and `-`, which bind tighter than LIKE and IN: `NOT a LIKE 'x'` is
//!    `(NOT a) LIKE 'x'`;
//! 7. function calls, `EXISTS name`, parentheses, literals and attribute names.
//!
//! An integer literal may carry a sign (`-5`, `+5`) when the sign touches the digits; this
//! is how `-2147483648` is written. Keywords, `TRUE`, `FALSE` and function names are case
//! insensitive, and so are attribute names, which are letters and digits.

use crate::ast::{ArithmeticOperator, BinaryOperator, CompareOperator, LogicOperator, Node};
use crate::error::ParseError;
use crate::functions::Function;
use crate::lexer::{Token, TokenKind, describe, tokenize};
use crate::like::LikePattern;
use crate::value::{Value, truncated};

/// The deepest nesting allowed of the tree.
///
/// It bounds the stack used by evaluating, printing and dropping an expression. Chains of
/// one operator level (`a OR b OR …`) are flat and do not count against it. It was 128
/// until the parser's recursion budget became three times this (below), which at 128
/// overflowed a 2 MiB test thread in a debug build.
pub(crate) const MAX_DEPTH: usize = 64;

/// The deepest recursion allowed of the parser, which bounds the stack parsing uses.
///
/// A parenthesised operand costs two levels (its prefix position and the expression
/// inside), a function call two and `(x IN (set))` three, where the tree gains one: three
/// times the tree's limit lets the printed form of every expression (which parenthesises
/// each chain, LIKE and IN) parse back. The `cesql` fuzz target found printed forms that
/// did not while both limits were the same.
const MAX_RECURSION: usize = 3 * MAX_DEPTH + 2;

/// Parses a whole expression.
pub(crate) fn parse(text: &str) -> Result<Node, ParseError> {
    let mut parser = Parser { text, tokens: tokenize(text), next: 0, nesting: 0 };
    let root = parser.logic()?;
    parser.expect(&TokenKind::End, "an operator or the end of the expression")?;
    Ok(root.node)
}

/// A parsed subtree and its depth.
struct Parsed {
    node: Node,
    depth: usize,
}

impl Parsed {
    fn leaf(node: Node) -> Parsed {
        Parsed { node, depth: 1 }
    }
}

/// The binary operator levels, from the loosest to the tightest.
#[derive(Clone, Copy)]
enum Level {
    Logic,
    Comparison,
    Additive,
    Multiplicative,
}

/// A postfix operator found after an operand.
enum Postfix {
    Like { negated: bool },
    In { negated: bool },
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    next: usize,
    /// How deep the parser has recursed through prefix operands.
    nesting: usize,
}

impl<'t> Parser<'t> {
    /// Parses a whole (sub)expression: the entry for parentheses, arguments and sets.
    fn logic(&mut self) -> Result<Parsed, ParseError> {
        self.nested(|parser| parser.chain(Level::Logic))
    }

    /// Parses operands of `level` joined by its operators into one [`Node::Chain`].
    fn chain(&mut self, level: Level) -> Result<Parsed, ParseError> {
        let first = self.operand(level)?;
        let mut depth = first.depth;
        let mut rest = Vec::new();
        while let Some(operator) = self.binary_operator(level) {
            self.advance();
            let operand = self.operand(level)?;
            depth = depth.max(operand.depth);
            rest.push((operator, operand.node));
        }
        if rest.is_empty() {
            return Ok(first);
        }
        let position = self.peek().start;
        let depth = self.deeper(depth, position)?;
        Ok(Parsed { node: Node::Chain(Box::new(first.node), rest), depth })
    }

    fn operand(&mut self, level: Level) -> Result<Parsed, ParseError> {
        match level {
            Level::Logic => self.chain(Level::Comparison),
            Level::Comparison => self.chain(Level::Additive),
            Level::Additive => self.chain(Level::Multiplicative),
            Level::Multiplicative => self.postfix(),
        }
    }

    /// Returns the operator of `level` at the current token, if there is one.
    fn binary_operator(&self, level: Level) -> Option<BinaryOperator> {
        let token = self.peek();
        let operator = match (level, &token.kind) {
            (Level::Logic, TokenKind::Word) => match self.keyword(token) {
                Some("AND") => BinaryOperator::Logic(LogicOperator::And),
                Some("OR") => BinaryOperator::Logic(LogicOperator::Or),
                Some("XOR") => BinaryOperator::Logic(LogicOperator::Xor),
                _ => return None,
            },
            (Level::Comparison, kind) => BinaryOperator::Compare(match kind {
                TokenKind::Equal => CompareOperator::Equal,
                TokenKind::NotEqual => CompareOperator::NotEqual,
                TokenKind::Less => CompareOperator::Less,
                TokenKind::LessOrEqual => CompareOperator::LessOrEqual,
                TokenKind::Greater => CompareOperator::Greater,
                TokenKind::GreaterOrEqual => CompareOperator::GreaterOrEqual,
                _ => return None,
            }),
            (Level::Additive, TokenKind::Plus) => {
                BinaryOperator::Arithmetic(ArithmeticOperator::Add)
            }
            (Level::Additive, TokenKind::Minus) => {
                BinaryOperator::Arithmetic(ArithmeticOperator::Subtract)
            }
            (Level::Multiplicative, TokenKind::Star) => {
                BinaryOperator::Arithmetic(ArithmeticOperator::Multiply)
            }
            (Level::Multiplicative, TokenKind::Slash) => {
                BinaryOperator::Arithmetic(ArithmeticOperator::Divide)
            }
            (Level::Multiplicative, TokenKind::Percent) => {
                BinaryOperator::Arithmetic(ArithmeticOperator::Remainder)
            }
            _ => return None,
        };
        Some(operator)
    }

    /// Parses a prefix operand followed by any number of `[NOT] LIKE` and `[NOT] IN`.
    fn postfix(&mut self) -> Result<Parsed, ParseError> {
        let mut operand = self.prefix()?;
        while let Some(postfix) = self.postfix_operator() {
            let position = self.peek().start;
            let node = match postfix {
                Postfix::Like { negated } => self.like(operand.node, negated)?,
                Postfix::In { negated } => {
                    let (node, set_depth) = self.in_set(operand.node, negated)?;
                    operand.depth = operand.depth.max(set_depth);
                    node
                }
            };
            operand = Parsed { node, depth: self.deeper(operand.depth, position)? };
        }
        Ok(operand)
    }

    /// Consumes `LIKE`, `IN`, `NOT LIKE` or `NOT IN` and says which it was.
    fn postfix_operator(&mut self) -> Option<Postfix> {
        let negated = self.keyword(self.peek()) == Some("NOT");
        let operator = self.tokens.get(self.next + usize::from(negated))?;
        let postfix = match self.keyword(operator) {
            Some("LIKE") => Postfix::Like { negated },
            Some("IN") => Postfix::In { negated },
            _ => return None,
        };
        self.next += 1 + usize::from(negated);
        Some(postfix)
    }

    fn like(&mut self, operand: Node, negated: bool) -> Result<Node, ParseError> {
        let TokenKind::Str(pattern) = &self.peek().kind else {
            return Err(self.unexpected("a string literal as the LIKE pattern"));
        };
        let pattern = LikePattern::new(pattern.clone());
        self.advance();
        Ok(Node::Like { operand: Box::new(operand), pattern, negated })
    }

    /// Parses the `(e1, e2, …)` after IN and returns the node and the depth of the set.
    fn in_set(&mut self, operand: Node, negated: bool) -> Result<(Node, usize), ParseError> {
        self.expect(&TokenKind::LeftParen, "`(` after IN")?;
        let (set, depth) = self.list("`,` or `)`")?;
        Ok((Node::In { operand: Box::new(operand), set, negated }, depth))
    }

    /// Parses `e1, e2, … )` after an opening parenthesis, with at least one expression.
    fn list(&mut self, expected: &'static str) -> Result<(Vec<Node>, usize), ParseError> {
        let mut nodes = Vec::new();
        let mut depth = 0;
        loop {
            let element = self.logic()?;
            depth = depth.max(element.depth);
            nodes.push(element.node);
            if !self.eat(&TokenKind::Comma) {
                self.expect(&TokenKind::RightParen, expected)?;
                return Ok((nodes, depth));
            }
        }
    }

    /// Parses a prefix operator with its operand, or a primary expression.
    fn prefix(&mut self) -> Result<Parsed, ParseError> {
        self.nested(Self::prefix_or_primary)
    }

    /// Runs `parse` one recursion level deeper, refusing to go past [`MAX_RECURSION`]
    /// (reported as the [`MAX_DEPTH`] a person can act on).
    ///
    /// Every recursive path of the parser goes through [`Parser::logic`] or
    /// [`Parser::prefix`], so this bounds the parser's stack.
    fn nested(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<Parsed, ParseError>,
    ) -> Result<Parsed, ParseError> {
        if self.nesting >= MAX_RECURSION {
            return Err(ParseError::TooDeep { position: self.peek().start, limit: MAX_DEPTH });
        }
        self.nesting += 1;
        let parsed = parse(self);
        self.nesting -= 1;
        parsed
    }

    fn prefix_or_primary(&mut self) -> Result<Parsed, ParseError> {
        let token = self.peek().clone();
        match &token.kind {
            TokenKind::Minus | TokenKind::Plus if self.touches_digits(&token) => {
                self.integer_literal()
            }
            TokenKind::Minus => {
                self.advance();
                let operand = self.prefix()?;
                let depth = self.deeper(operand.depth, token.start)?;
                Ok(Parsed { node: Node::Negate(Box::new(operand.node)), depth })
            }
            TokenKind::Word if self.keyword(&token) == Some("NOT") => {
                self.advance();
                let operand = self.prefix()?;
                let depth = self.deeper(operand.depth, token.start)?;
                Ok(Parsed { node: Node::Not(Box::new(operand.node)), depth })
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Parsed, ParseError> {
        let token = self.peek().clone();
        match &token.kind {
            TokenKind::LeftParen => {
                self.advance();
                let inner = self.logic()?;
                self.expect(&TokenKind::RightParen, "an operator or `)`")?;
                Ok(inner)
            }
            TokenKind::Digits => self.integer_literal(),
            TokenKind::Str(value) => {
                self.advance();
                Ok(Parsed::leaf(Node::Literal(Value::String(value.clone()))))
            }
            TokenKind::Word => self.word(&token),
            _ => Err(self.unexpected("an expression")),
        }
    }

    /// Parses a word in operand position: a keyword, a function call or an attribute.
    fn word(&mut self, token: &Token) -> Result<Parsed, ParseError> {
        let literal = match self.keyword(token) {
            Some("TRUE") => Value::Boolean(true),
            Some("FALSE") => Value::Boolean(false),
            Some("EXISTS") => {
                self.advance();
                let name = self.attribute_name("an attribute name after EXISTS")?;
                return Ok(Parsed::leaf(Node::Exists(name)));
            }
            Some(_) => return Err(self.unexpected("an expression")),
            None if self.token_after_is(&TokenKind::LeftParen) => return self.call(token),
            None => {
                let name = self.attribute_name("an attribute name")?;
                return Ok(Parsed::leaf(Node::Attribute(name)));
            }
        };
        self.advance();
        Ok(Parsed::leaf(Node::Literal(literal)))
    }

    /// Parses `NAME(arguments)`, resolving the function from its name and arity.
    fn call(&mut self, token: &Token) -> Result<Parsed, ParseError> {
        let written = self.source(token);
        let mut letters = written.chars();
        let valid = letters.next().is_some_and(|c| c.is_ascii_alphabetic())
            && letters.all(|c| c.is_ascii_alphabetic() || c == '_');
        if !valid {
            let name = truncated(written);
            return Err(ParseError::InvalidFunctionName { position: token.start, name });
        }
        let name = written.to_ascii_uppercase();
        self.next += 2;
        let (arguments, depth) = if self.eat(&TokenKind::RightParen) {
            (Vec::new(), 0)
        } else {
            self.list("`,` or `)` in the arguments")?
        };
        let function = Function::resolve(&name, arguments.len());
        let depth = self.deeper(depth, token.start)?;
        Ok(Parsed { node: Node::Call { name, function, arguments }, depth })
    }

    /// Consumes an attribute name, ASCII letters and digits, and returns it in lower case.
    ///
    /// The grammar allows only lowercase letters, as CloudEvents attribute names have, but
    /// the spec's own example `missingAttribute = ""` is expected to evaluate, and other
    /// implementations read names case-insensitively; so letters are lowercased here.
    fn attribute_name(&mut self, expected: &'static str) -> Result<String, ParseError> {
        let token = self.peek().clone();
        if token.kind != TokenKind::Word || self.keyword(&token).is_some() {
            return Err(self.unexpected(expected));
        }
        let name = self.source(&token);
        if !name.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            let name = truncated(name);
            return Err(ParseError::InvalidAttributeName { position: token.start, name });
        }
        self.advance();
        Ok(name.to_ascii_lowercase())
    }

    /// Consumes digits, with the sign before them if there is one, as an Integer literal.
    fn integer_literal(&mut self) -> Result<Parsed, ParseError> {
        let start = self.peek().start;
        if matches!(self.peek().kind, TokenKind::Minus | TokenKind::Plus) {
            self.advance();
        }
        let end = self.peek().end;
        self.advance();
        let literal = self.text.get(start..end).unwrap_or_default();
        match literal.parse::<i32>() {
            Ok(number) => Ok(Parsed::leaf(Node::Literal(Value::Integer(number)))),
            Err(_) => {
                Err(ParseError::IntegerOutOfRange { position: start, literal: truncated(literal) })
            }
        }
    }

    /// Tells whether a sign token is directly followed by digits, with no space between.
    fn touches_digits(&self, sign: &Token) -> bool {
        self.tokens
            .get(self.next + 1)
            .is_some_and(|next| next.kind == TokenKind::Digits && next.start == sign.end)
    }

    /// Returns the depth of a node over a child of `depth`, or an error past the limit.
    fn deeper(&self, depth: usize, position: usize) -> Result<usize, ParseError> {
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(ParseError::TooDeep { position, limit: MAX_DEPTH });
        }
        Ok(depth)
    }

    /// Returns the keyword a word token spells, in upper case, if it spells one.
    fn keyword(&self, token: &Token) -> Option<&'static str> {
        if token.kind != TokenKind::Word {
            return None;
        }
        let word = self.source(token);
        ["AND", "OR", "XOR", "NOT", "LIKE", "IN", "EXISTS", "TRUE", "FALSE"]
            .into_iter()
            .find(|keyword| keyword.eq_ignore_ascii_case(word))
    }

    fn source(&self, token: &Token) -> &'t str {
        self.text.get(token.start..token.end).unwrap_or_default()
    }

    fn peek(&self) -> &Token {
        // The token list always ends with End or Error, and the parser never moves past it.
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    fn token_after_is(&self, kind: &TokenKind) -> bool {
        self.tokens.get(self.next + 1).is_some_and(|token| token.kind == *kind)
    }

    fn advance(&mut self) {
        self.next += 1;
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        let found = self.peek().kind == *kind;
        if found {
            self.advance();
        }
        found
    }

    fn expect(&mut self, kind: &TokenKind, expected: &'static str) -> Result<(), ParseError> {
        if self.eat(kind) { Ok(()) } else { Err(self.unexpected(expected)) }
    }

    /// Builds the error for the current token, or returns the lexer's error if it is one.
    fn unexpected(&self, expected: &'static str) -> ParseError {
        let token = self.peek();
        match &token.kind {
            TokenKind::Error(error) => error.clone(),
            _ => ParseError::Unexpected {
                position: token.start,
                expected,
                found: describe(self.text, token),
            },
        }
    }
}
