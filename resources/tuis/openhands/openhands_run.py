"""Runs one OpenHands agent headless on one task, in the image cab-check builds (resources/tuis/openhands).

Called as CAB's own openhands image called its runner: `python /opt/openhands_run.py -t PROMPT --workspace /work`,
plus `--out DIR`. The endpoint comes from the environment, as the OpenHands CLI reads it with
--override-with-envs: LLM_MODEL (LiteLLM syntax, "openai/<id>": Chat Completions), LLM_BASE_URL and LLM_API_KEY.

The agent is the OpenHands CLI's (openhands_cli/utils.py get_default_cli_agent, stores/agent_store.py) cut to
what runs offline: the terminal and file-editor tools (no browser, no task tracker, no sub-agents), the CLI
system prompt, the default summarizing condenser, and the workspace's own skills (AGENTS.md and the like), but
no user or public skills (the public ones are cloned from GitHub). It never asks for confirmation.

It prints the conversation as it goes (the SDK's default visualizer), and at the end writes the accumulated
token usage of every LLM the conversation used to DIR/usage.json, for cab_check/tokens/openhands.py. The
conversation's own state is persisted under DIR/conversations/. Exit code 0 when the agent finished, 1 when it
stopped on an error, got stuck or ran out of iterations, 2 on bad arguments or environment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import warnings
from pathlib import Path

# An endpoint's model is not in LiteLLM's price list: the SDK warns on every call and counts its cost as 0.
warnings.filterwarnings("ignore", message="Cost calculation failed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    task = parser.add_mutually_exclusive_group(required=True)
    task.add_argument("-t", "--task", help="the task, as text")
    task.add_argument("-f", "--file", type=Path, help="a file holding the task")
    parser.add_argument("--workspace", default=os.getcwd(), help="the agent's working directory")
    parser.add_argument("--out", type=Path, default=None, help="where usage.json and the conversation go")
    parser.add_argument("--max-iterations", type=int, default=100, help="agent steps before it is stopped")
    return parser.parse_args(argv)


def build_agent(workspace: str):
    from openhands.sdk import LLM, Agent, AgentContext, Tool
    from openhands.sdk.context import load_project_skills
    from openhands.sdk.context.condenser import default_condenser
    from openhands.tools.file_editor import FileEditorTool
    from openhands.tools.terminal import TerminalTool

    missing = [name for name in ("LLM_MODEL", "LLM_BASE_URL", "LLM_API_KEY") if not os.environ.get(name)]
    if missing:
        sys.exit(f"openhands_run: set {', '.join(missing)} (the endpoint) in the environment")
    llm = LLM(
        model=os.environ["LLM_MODEL"],
        base_url=os.environ["LLM_BASE_URL"],
        api_key=os.environ["LLM_API_KEY"],
        usage_id="agent",
        api_mode="chat",  # Chat Completions always: "auto" picks the Responses API for some OpenAI model ids
        native_tool_calling=True,  # the model calls the tools through the API's tools/tool_calls
        stream=False,
        log_completions=False,
        num_retries=2,  # the SDK's 5 retries wait 8-64 s each: a dead endpoint would eat the task's timeout
    )
    context = AgentContext(
        skills=load_project_skills(workspace),
        system_message_suffix=(
            f"Your current working directory is: {workspace}\n"
            f"User operating system: {platform.system()} {platform.release()}"
        ),
        load_user_skills=False,
        load_public_skills=False,
    )
    return Agent(
        llm=llm,
        tools=[Tool(name=TerminalTool.name), Tool(name=FileEditorTool.name)],
        agent_context=context,
        system_prompt_kwargs={"cli_mode": True},
        # The CLI's default condenser (openhands.tools.preset.default.get_default_condenser calls this).
        condenser=default_condenser(llm.model_copy(update={"usage_id": "condenser"})),
    )


def progress_visualizer():
    """The SDK's default visualizer (what the OpenHands CLI shows of each event), but the system prompt and the
    tool schemas, a few hundred lines the same on every run, are one line."""
    from openhands.sdk.conversation import DefaultConversationVisualizer
    from openhands.sdk.event import SystemPromptEvent

    class Progress(DefaultConversationVisualizer):
        def on_event(self, event) -> None:
            if isinstance(event, SystemPromptEvent):
                tools = ", ".join(tool.name for tool in event.tools)
                print(
                    f"openhands_run: system prompt of {len(event.system_prompt.text)} characters; tools: {tools}",
                    flush=True,
                )
                return
            super().on_event(event)

    return Progress()


def usage_report(conversation) -> dict:
    """Accumulated usage per LLM (usage_id: "agent", "condenser") and in total, as the SDK counted it."""
    stats = conversation.conversation_stats
    per_llm = {}
    for usage_id, metrics in stats.usage_to_metrics.items():
        usage = metrics.accumulated_token_usage
        per_llm[usage_id] = {
            "model": metrics.model_name,
            "accumulated_token_usage": usage.model_dump(mode="json") if usage else None,
            "accumulated_cost": metrics.accumulated_cost,
            "llm_calls": len(metrics.token_usages),
        }
    combined = stats.get_combined_metrics()
    total = combined.accumulated_token_usage
    return {
        "execution_status": str(conversation.state.execution_status.value),
        "accumulated_token_usage": total.model_dump(mode="json") if total else None,
        "accumulated_cost": combined.accumulated_cost,
        "llm_calls": len(combined.token_usages),
        "usage_to_metrics": per_llm,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    task = args.task if args.task is not None else args.file.read_text(encoding="utf-8")
    workspace = str(Path(args.workspace).resolve())

    from openhands.sdk import Conversation
    from openhands.sdk.conversation.state import ConversationExecutionStatus

    agent = build_agent(workspace)
    persistence = args.out / "conversations" if args.out else None
    conversation = Conversation(
        agent=agent,
        workspace=workspace,
        persistence_dir=str(persistence) if persistence else None,
        delete_on_close=False,
        max_iteration_per_run=args.max_iterations,
        visualizer=progress_visualizer(),
    )
    status = ConversationExecutionStatus.ERROR
    try:
        conversation.send_message(task)
        conversation.run()
        status = conversation.state.execution_status
    except Exception as exc:  # noqa: BLE001 - reported, then the usage so far is still written
        print(f"openhands_run: the conversation stopped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    finally:
        report = usage_report(conversation)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "usage.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        total = report["accumulated_token_usage"] or {}
        print(
            f"openhands_run: {report['execution_status']}; {report['llm_calls']} LLM calls, "
            f"{total.get('prompt_tokens', 0)} prompt tokens, {total.get('completion_tokens', 0)} completion "
            "tokens",
            flush=True,
        )
        conversation.close()
    return 0 if status == ConversationExecutionStatus.FINISHED else 1


if __name__ == "__main__":
    sys.exit(main())
