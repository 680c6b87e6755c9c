"""A chat template that carries tools for the packaged SmolLM2 model (its own template has none).

SmolLM2-135M-Instruct's template is plain ChatML: tools offered in a request never reach the model, so on the local
backend an agent could not call `search_documents`. This one is the same ChatML with the tools listed in the system
message and calls written as `<tool_call>{"name": …, "arguments": {…}}</tool_call>` (the Hermes format, which
llama-server's Jinja mode recognises and parses into OpenAI `tool_calls`); tool results go back as
`<tool_response>` turns. llama-server reads it with `--chat-template-file`; the file is written beside the prepared
models, so no package data is needed. A GGUF of the user's own (GENAI_FLOW_LOCAL_CHAT_GGUF) keeps its own template.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE_NAME = "smollm2-tools.jinja"

TEMPLATE = """\
{%- set default_system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face" -%}
{%- set first_system = messages[0].role == "system" -%}
<|im_start|>system
{{ messages[0].content if first_system else default_system }}
{%- if tools %}

You can call functions to help with the task. The functions:
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>
To call a function, reply with only this, and nothing else:
<tool_call>
{"name": "<function name>", "arguments": {"<argument>": "<value>"}}
</tool_call>
When the results you need are in the conversation, answer in plain text.
{%- endif %}<|im_end|>
{% for message in messages -%}
{%- if loop.first and first_system -%}
{%- elif message.role == "tool" -%}
<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% elif message.role == "assistant" and message.tool_calls -%}
<|im_start|>assistant
{%- if message.content %}
{{ message.content }}
{%- endif %}
{%- for call in message.tool_calls %}
<tool_call>
{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments if call.function.arguments is string \
else call.function.arguments | tojson }}}
</tool_call>
{%- endfor %}<|im_end|>
{% else -%}
<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%}
"""


def write_template(directory: Path) -> Path:
    """The template as a file in directory (rewritten only when its text changed); its path."""
    path = directory / TEMPLATE_NAME
    if not path.exists() or path.read_text() != TEMPLATE:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(TEMPLATE)
    return path
