"""hubrl.course: Deep RL Course notebook repos (``model.pt`` + metadata), loaded without running anything from them,
and the notebook's own functions for a student's live module.

Read top to bottom, the package follows the file: :mod:`~hubrl.course.reader` parses an untrusted ``model.pt`` with
torch's weights-only unpickler in a bounded child process; :mod:`~hubrl.course.model_file` runs that child and
decodes its answer; :mod:`~hubrl.course.rebuild` turns the module tree into hubrl's MLP (or says why not);
:mod:`~hubrl.course.repo` finds the env id in the repo's metadata, caches the conversion and builds the Agent.
For a student's live module: :mod:`~hubrl.course.play` is the notebook's episode loop on the student's own ``act()``,
seeded; :mod:`~hubrl.course.trace` reads ``forward`` with torch.fx; :mod:`~hubrl.course.module` writes the module as
hubrl's policy when that is proven to be the same agent on the same game, its state_dict otherwise;
:mod:`~hubrl.course.notebook` holds the notebook's functions with its signatures (evaluate_agent, record_video,
push_to_hub); :mod:`~hubrl.course.convert` turns course agents into complete hubrl run folders (``hubrl convert``);
:mod:`~hubrl.course.torch_policy` is a loaded agent back in torch (``Policy.to_torch()``).
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
