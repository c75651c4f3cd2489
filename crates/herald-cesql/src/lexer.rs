//! Splits an expression into tokens.
//!
//! String literals follow the spec's grammar as its ANTLR lexer reads it: a backslash and
//! the character after it form a pair, and only a backslash before the delimiting quote is
//! an escape (`'it\'s'` is `it's`); every other pair is kept as written (`'a\%'` is `a\%`,
//! which LIKE then reads as an escaped `%`). Words are runs of ASCII letters, digits and
//! `_`; the parser decides whether a word is a keyword, an attribute or a function name.

use crate::error::ParseError;
use crate::value::truncated;

/// What a token is. Words and digit runs keep their text in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    LeftParen,
    RightParen,
    Comma,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    /// A string literal, with its value.
    Str(String),
    /// A run of ASCII digits.
    Digits,
    /// A run of ASCII letters, digits and `_` that is not only digits.
    Word,
    End,
    /// Input the lexer cannot read; it is the last token.
    Error(ParseError),
}

/// A token and the byte range it covers in the expression.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Returns the tokens of `text`, ending with [`TokenKind::End`] or [`TokenKind::Error`].
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut start = skip_whitespace(text, 0);
    while start < text.len() {
        let (kind, end) = next_token(text, start);
        let stop = matches!(kind, TokenKind::Error(_));
        tokens.push(Token { kind, start, end });
        if stop {
            return tokens;
        }
        start = skip_whitespace(text, end);
    }
    tokens.push(Token { kind: TokenKind::End, start: text.len(), end: text.len() });
    tokens
}

fn skip_whitespace(text: &str, from: usize) -> usize {
    let rest = &text[from..];
    from + (rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_whitespace()).len())
}

/// Reads the token that starts at byte `start` and returns it with the byte where it ends.
fn next_token(text: &str, start: usize) -> (TokenKind, usize) {
    let rest = &text[start..];
    let mut characters = rest.chars();
    let first = characters.next().unwrap_or(' ');
    let second = characters.next();
    let (kind, length) = match (first, second) {
        ('!', Some('=')) | ('<', Some('>')) => (TokenKind::NotEqual, 2),
        ('<', Some('=')) => (TokenKind::LessOrEqual, 2),
        ('>', Some('=')) => (TokenKind::GreaterOrEqual, 2),
        ('(', _) => (TokenKind::LeftParen, 1),
        (')', _) => (TokenKind::RightParen, 1),
        (',', _) => (TokenKind::Comma, 1),
        ('=', _) => (TokenKind::Equal, 1),
        ('<', _) => (TokenKind::Less, 1),
        ('>', _) => (TokenKind::Greater, 1),
        ('+', _) => (TokenKind::Plus, 1),
        ('-', _) => (TokenKind::Minus, 1),
        ('*', _) => (TokenKind::Star, 1),
        ('/', _) => (TokenKind::Slash, 1),
        ('%', _) => (TokenKind::Percent, 1),
        ('\'' | '"', _) => return string_literal(text, start, first),
        (c, _) if c.is_ascii_alphanumeric() || c == '_' => return word(text, start),
        (c, _) => {
            let error = ParseError::Unexpected {
                position: start,
                expected: "an operator, a literal, a name, `(`, `)` or `,`",
                found: format!("character `{c}`"),
            };
            return (TokenKind::Error(error), start + c.len_utf8());
        }
    };
    (kind, start + length)
}

/// Reads a run of letters, digits and `_`.
fn word(text: &str, start: usize) -> (TokenKind, usize) {
    let rest = &text[start..];
    let length =
        rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_').len();
    let end = start + length;
    let digits_only = text[start..end].bytes().all(|byte| byte.is_ascii_digit());
    (if digits_only { TokenKind::Digits } else { TokenKind::Word }, end)
}

/// Reads a string literal delimited by `quote`, which starts at byte `start`.
fn string_literal(text: &str, start: usize, quote: char) -> (TokenKind, usize) {
    let mut value = String::new();
    let mut characters = text[start + 1..].char_indices();
    while let Some((offset, character)) = characters.next() {
        if character == quote {
            return (TokenKind::Str(value), start + 1 + offset + 1);
        }
        if character != '\\' {
            value.push(character);
            continue;
        }
        match characters.next() {
            Some((_, escaped)) if escaped == quote => value.push(quote),
            Some((_, other)) => {
                value.push('\\');
                value.push(other);
            }
            None => break,
        }
    }
    let error = ParseError::UnterminatedString { position: start, quote };
    (TokenKind::Error(error), text.len())
}

/// Describes a token for an error message: quoted source text, or the end of the expression.
pub(crate) fn describe(text: &str, token: &Token) -> String {
    match token.kind {
        TokenKind::End => "the end of the expression".to_owned(),
        _ => format!("`{}`", truncated(text.get(token.start..token.end).unwrap_or_default())),
    }
}
