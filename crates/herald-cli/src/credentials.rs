//! The API credentials every server command takes: full tokens (several during a
//! rotation), read-only tokens and an optional HTTP Basic user, checked the same way
//! everywhere.

use herald_http::Credentials;

/// The fewest characters a token may have: 16 random characters are beyond guessing
/// through an API.
pub const MIN_TOKEN_CHARS: usize = 16;

/// What is wrong with the tokens given for `setting`, if anything. Never shows a token.
pub fn token_problem(setting: &str, tokens: &[String]) -> Option<String> {
    tokens.iter().enumerate().find_map(|(index, token)| {
        let length = token.chars().count();
        let position = if tokens.len() > 1 { format!(" (#{})", index + 1) } else { String::new() };
        if length < MIN_TOKEN_CHARS {
            Some(format!(
                "{setting}{position}: {length} characters is too short to guess-proof the API; use at least {MIN_TOKEN_CHARS}"
            ))
        } else if !token.bytes().all(|byte| byte.is_ascii_graphic()) || token.contains(',') {
            Some(format!(
                "{setting}{position}: a token must be visible ASCII without spaces or commas (commas separate the tokens of a rotation)"
            ))
        } else {
            None
        }
    })
}

/// `--token` and `--read-token` of the servers that share the API token (`up`, which
/// also reads them from its file and generates a full token when none is given;
/// `notify`, `push`).
#[derive(Clone, Debug, clap::Args)]
pub struct ApiTokenArgs {
    /// Bearer token that the API's reads and changes require (at least 16 characters;
    /// repeat it, or separate by commas, to accept two during a rotation; `herald up`
    /// generates one and prints it when none is given).
    #[arg(long = "token", env = "HERALD_API_TOKEN", hide_env_values = true, value_delimiter = ',')]
    pub tokens: Vec<String>,
    /// Bearer token that may only read: dead letters, event journeys, notifications,
    /// recipients, subscriptions (at least 16 characters; repeat it, or separate by commas).
    #[arg(
        long = "read-token",
        env = "HERALD_READ_TOKEN",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub read_tokens: Vec<String>,
}

impl ApiTokenArgs {
    /// The credentials these tokens make, each checked.
    pub fn credentials(self) -> Result<Credentials, String> {
        credentials(("--token", self.tokens), ("--read-token", self.read_tokens), None)
    }
}

/// Credentials from the flags, every token checked (`token_setting` and
/// `read_token_setting` name them in the error).
pub fn credentials(
    (token_setting, tokens): (&str, Vec<String>),
    (read_token_setting, read_tokens): (&str, Vec<String>),
    basic: Option<(String, String)>,
) -> Result<Credentials, String> {
    let problems: Vec<String> =
        [token_problem(token_setting, &tokens), token_problem(read_token_setting, &read_tokens)]
            .into_iter()
            .flatten()
            .collect();
    if problems.is_empty() {
        Ok(Credentials { tokens, read_tokens, basic })
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_unprintable_tokens_are_refused_without_being_shown() {
        let short = token_problem("--token", &["0123456789abcdef".into(), "xyzzy".into()]);
        let short = short.expect("a short token passed");
        assert!(short.contains("--token (#2): 5 characters"), "{short}");
        assert!(!short.contains("xyzzy"), "the token is not shown: {short}");
        assert!(token_problem("--token", &["with space in it 0123".into()]).is_some());
        assert!(token_problem("--token", &["0123456789abcdef".into()]).is_none());
        assert!(token_problem("--token", &[]).is_none());
    }
}
