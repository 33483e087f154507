"""hubrl.course: Deep RL Course notebook repos (``model.pt`` + metadata), loaded without running anything from them.

Read top to bottom, the package follows the file: :mod:`~hubrl.course.reader` parses an untrusted ``model.pt`` with
torch's weights-only unpickler in a bounded child process; :mod:`~hubrl.course.model_file` runs that child and
decodes its answer; :mod:`~hubrl.course.rebuild` turns the module tree into hubrl's MLP (or says why not);
:mod:`~hubrl.course.repo` finds the env id in the repo's metadata, caches the conversion and builds the Agent.
:mod:`~hubrl.course.module` puts a student's live module behind hubrl's inference interface and writes it as safe
weights (rebuilt and checked); :mod:`~hubrl.course.notebook` holds the notebook's own functions with its signatures (evaluate_agent, record_video,
push_to_hub) for a student's live module; :mod:`~hubrl.course.convert` turns course agents into complete hubrl run
folders (``hubrl convert``).
"""

from hubrl.course.convert import convert, package_agent, package_module
from hubrl.course.model_file import Limits, limits_from_env, load_course_model, read_model_file
from hubrl.course.module import ModuleConversion, convert_module
from hubrl.course.notebook import evaluate_agent, push_to_hub, record_video
from hubrl.course.rebuild import ModuleNode, RebuiltPolicy, rebuild_policy, tree_from_module, tree_from_state_dict
from hubrl.course.repo import COURSE_METADATA, SilentProgress, cache_dir, find_env_id, load_course_repo

__all__ = [
    "COURSE_METADATA",
    "Limits",
    "ModuleConversion",
    "ModuleNode",
    "RebuiltPolicy",
    "SilentProgress",
    "cache_dir",
    "convert",
    "convert_module",
    "evaluate_agent",
    "find_env_id",
    "limits_from_env",
    "load_course_model",
    "load_course_repo",
    "package_agent",
    "package_module",
    "push_to_hub",
    "read_model_file",
    "rebuild_policy",
    "record_video",
    "tree_from_module",
    "tree_from_state_dict",
]
