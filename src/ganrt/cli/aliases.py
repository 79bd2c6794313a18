"""Habits from Real-ESRGAN's scripts and the ncnn tools: spellings that work, and answers for the rest.

``translate`` rewrites the command line before Typer sees it: upstream flags
with a ganrt equivalent become that equivalent (``--fp32`` → ``-p fp32``,
``-n NAME`` → ``-m NAME``, ``-i IN -o OUT`` → ``IN OUT``, ``--ext`` →
``--format``, ``-g 1`` → ``-d cuda:1``, ``--no_resume`` → ``--no-resume``), and ``--ray``
with no ADDRESS after it becomes ``--ray local``;
flags ganrt has no use for end in one line that says what to do instead.
"""

from __future__ import annotations

import re

from ganrt.errors import UsageError

IMAGE_COMMANDS = ("restore", "video", "repair")

# flag → ganrt tokens (the flag takes no value)
SWITCHES = {
    "--fp32": ["--precision", "fp32"],
    "--half": ["--precision", "fp16"],
    "--fp16": ["--precision", "fp16"],
}
# flag → ganrt flag (the flag takes one value)
RENAMED = {
    "-n": "--model",
    "--model_name": "--model",
    "--model-name": "--model",
    "--ext": "--format",
    "--tile_size": "--tile",
}
# flag → why ganrt has no such flag, and what to do instead
ANSWERS = {
    "--face_enhance": "ganrt has no built-in face model: give a GFPGAN/CodeFormer/RestoreFormer file with "
                      "`ganrt repair --face-model FILE`",
    "--face-enhance": "ganrt has no built-in face model: give a GFPGAN/CodeFormer/RestoreFormer file with "
                      "`ganrt repair --face-model FILE`",
    "--tile_pad": "ganrt pads and blends tiles itself (no seams); drop --tile_pad",
    "--pre_pad": "ganrt pads borders itself; drop --pre_pad",
    "--alpha_upsampler": "ganrt keeps alpha channels itself (no dark fringes); drop --alpha_upsampler",
    "-dn": "ganrt has no denoise-strength knob; pick a model instead (`ganrt models`)",
    "--denoise_strength": "ganrt has no denoise-strength knob; pick a model instead (`ganrt models`)",
    "-x": "ganrt has no TTA mode; drop -x",
    "--tta": "ganrt has no TTA mode; drop --tta",
}
FORMAT_VALUES = {"auto": "same", "jpeg": "jpg", "tif": "tiff", "jpeg2000": "jp2"}
# what may follow --ray as its ADDRESS; anything else (an input path, another flag) is not one
RAY_ADDRESS = re.compile(r"(auto|local|ray://\S+|\[?[\w.:-]+\]?:\d{1,5})")


def command_name(args: list[str]) -> str | None:
    """The command a command line names: its first word that is not a flag (the root takes no values)."""
    return next((a for a in args if not a.startswith("-")), None)


def translate(args: list[str]) -> list[str]:
    """The command line with upstream spellings turned into ganrt's (see the module docstring)."""
    command = command_name(args)
    if command not in IMAGE_COMMANDS:
        return args
    out: list[str] = []
    positionals: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, inline = arg.partition("=")
        value = inline if eq else (args[i + 1] if i + 1 < len(args) else None)
        step = 1 if eq else 2
        if name in ANSWERS:
            raise UsageError(ANSWERS[name])
        if arg == "--ray" and (value is None or not RAY_ADDRESS.fullmatch(value)):
            out += ["--ray", "local"]  # --ray alone: a local Ray
        elif arg in SWITCHES:
            out += SWITCHES[arg]
        elif name in RENAMED and value is not None:
            new = RENAMED[name]
            if new == "--format":
                value = FORMAT_VALUES.get(value, value)
            out += [new, value]
            i += step
            continue
        elif name in ("-i", "--input", "-o", "--output") and value is not None:
            positionals["input" if name in ("-i", "--input") else "output"] = value
            i += step
            continue
        elif name in ("-g", "--gpu-id", "--gpu_id") and value is not None:
            out += ["--device", "cpu" if value == "-1" else f"cuda:{value}"]
            i += step
            continue
        elif arg.startswith("--") and "_" in name:
            out.append(name.replace("_", "-") + (eq + inline if eq else ""))
        else:
            out.append(arg)
        i += 1
    if positionals:
        at = out.index(command) + 1
        out[at:at] = [positionals[k] for k in ("input", "output") if k in positionals]
    return out
