//! Chat templates: the model's own Jinja template (`tokenizer.chat_template`) turning a
//! conversation into the prompt text it was trained on.
//!
//! Templates are written for Hugging Face's Python Jinja environment, so this one is set up
//! the same way: `trim_blocks` and `lstrip_blocks` on, `{% break %}`/`{% continue %}`,
//! `raise_exception(msg)` (templates use it to reject conversations they cannot format) and
//! Python string methods such as `.strip()`.

use minijinja::{context, Environment, Error, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::TokenizerError;

/// One turn of a conversation, as the OpenAI-style API sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// A compiled chat template with the model's BOS/EOS texts, ready to render many times.
#[derive(Clone, Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
    takes_tools: bool,
}

const NAME: &str = "chat_template";

/// The `raise_exception` global of Hugging Face's template environment.
fn raise_exception(message: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

fn template_error(error: Error) -> TokenizerError {
    TokenizerError::Template(error.to_string())
}

impl ChatTemplate {
    /// Compiles `source` once; syntax errors are reported here, not at the first request.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, TokenizerError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(NAME, source.to_owned())
            .map_err(template_error)?;
        Ok(Self {
            env,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
            takes_tools: source.contains("tools"),
        })
    }

    /// The text templates see as `bos_token`.
    pub fn bos_token(&self) -> &str {
        &self.bos_token
    }

    /// The text templates see as `eos_token`.
    pub fn eos_token(&self) -> &str {
        &self.eos_token
    }

    /// Whether the template renders a `tools` list (function definitions, OpenAI's shape),
    /// as templates of models trained for tool calls do.
    pub fn takes_tools(&self) -> bool {
        self.takes_tools
    }

    /// The prompt text for `messages` (and `tools`, for templates that take them); with
    /// `add_generation_prompt` it ends with the opening of an assistant turn, so the model's
    /// continuation is the reply.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        tools: Option<&serde_json::Value>,
        add_generation_prompt: bool,
    ) -> Result<String, TokenizerError> {
        let template = self.env.get_template(NAME).map_err(template_error)?;
        template
            .render(context! {
                messages => messages,
                tools => tools,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(template_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn message(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    fn smollm2() -> ChatTemplate {
        ChatTemplate::new(SMOLLM2, "<|im_start|>", "<|im_end|>").unwrap()
    }

    #[test]
    fn smollm2_adds_its_default_system_prompt() {
        let rendered = smollm2()
            .render(&[message("user", "Hi!")], None, true)
            .unwrap();
        assert_eq!(
            rendered,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi!<|im_end|>\n\
             <|im_start|>assistant\n"
        );
    }

    #[test]
    fn smollm2_keeps_a_given_system_prompt() {
        let messages = [message("system", "Be brief."), message("user", "2+2?")];
        assert_eq!(
            smollm2().render(&messages, None, true).unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            smollm2().render(&messages, None, false).unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
        );
    }

    #[test]
    fn tools_reach_templates_that_take_them() {
        let template = ChatTemplate::new(
            "{% if tools %}{% for t in tools %}[{{ t.function.name }}]{% endfor %}{% endif %}{{ messages[0].content }}",
            "",
            "",
        )
        .unwrap();
        assert!(template.takes_tools() && !smollm2().takes_tools());
        let tools = serde_json::json!([{"type": "function", "function": {"name": "get_weather"}}]);
        let messages = [message("user", "hi")];
        assert_eq!(
            template.render(&messages, Some(&tools), false).unwrap(),
            "[get_weather]hi"
        );
        assert_eq!(template.render(&messages, None, false).unwrap(), "hi");
    }

    #[test]
    fn raise_exception_is_an_error_with_its_message() {
        let template = ChatTemplate::new(
            "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with a user turn') }}{% endif %}ok",
            "",
            "",
        )
        .unwrap();
        match template.render(&[message("assistant", "hi")], None, false) {
            Err(TokenizerError::Template(msg)) => {
                assert!(
                    msg.contains("Conversation must start with a user turn"),
                    "{msg}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            template
                .render(&[message("user", "hi")], None, false)
                .unwrap(),
            "ok"
        );
    }

    #[test]
    fn malformed_templates_are_errors() {
        for source in ["{% for m in messages %}", "{{ ", "{% if %}", "{% endfor %}"] {
            assert!(
                matches!(
                    ChatTemplate::new(source, "", ""),
                    Err(TokenizerError::Template(_))
                ),
                "{source:?}"
            );
        }
        // Unknown filters and functions are only found when rendering: an error then too.
        let unknown = ChatTemplate::new("{{ messages | nosuchfilter }}", "", "").unwrap();
        assert!(matches!(
            unknown.render(&[message("user", "hi")], None, false),
            Err(TokenizerError::Template(_))
        ));
    }

    #[test]
    fn hugging_face_idioms_work() {
        // bos/eos globals, `.strip()`, `|trim`, namespace, loop controls, tojson, trim_blocks.
        let source = "{{ bos_token }}{% set ns = namespace(n=0) %}\
            {% for m in messages %}\
            {% if m.role == 'skip' %}{% continue %}{% endif %}\
            {% set ns.n = ns.n + 1 %}\
            [{{ m['role'].upper() }}:{{ m.content.strip() }}|{{ m.content|trim }}]\
            {% endfor %}\
            {% if messages[0].content.startswith(' ') %}{{ ns.n }}{% endif %}\
            {{ messages[0].role|tojson }}{{ eos_token }}";
        let template = ChatTemplate::new(source, "<s>", "</s>").unwrap();
        let messages = [
            message("user", " a "),
            message("skip", "x"),
            message("bot", "b"),
        ];
        assert_eq!(
            template.render(&messages, None, false).unwrap(),
            "<s>[USER:a|a][BOT:b|b]2\"user\"</s>"
        );

        let lines = ChatTemplate::new(
            "{% for m in messages %}\n{{ m.content }}\n{% endfor %}\n",
            "",
            "",
        )
        .unwrap();
        assert_eq!(lines.render(&messages, None, false).unwrap(), " a \nx\nb\n");
    }

    #[test]
    fn messages_deserialize_from_api_json() {
        let messages: Vec<ChatMessage> =
            serde_json::from_str(r#"[{"role":"user","content":"hé"}]"#).unwrap();
        assert_eq!(messages, [message("user", "hé")]);
    }
}
