"""hubrl.course: Deep RL Course notebook repos (``model.pt`` + hyperparameters.json), loaded without running them.

``rebuild`` turns a module tree (read from a file, a state_dict or a live module) into hubrl's MLP policy.
``notebook`` holds the notebook's own functions with its signatures (evaluate_agent, record_video, push_to_hub) for a
student's live module; ``convert`` turns course agents into complete hubrl run folders (``hubrl convert``).
"""

from hubrl.course._old_unpickler import CourseModel, load_course_model
from hubrl.course.convert import convert, package_agent, package_module
from hubrl.course.notebook import ModuleConversion, convert_module, evaluate_agent, push_to_hub, record_video
from hubrl.course.rebuild import ModuleNode, RebuiltPolicy, rebuild_policy, tree_from_module, tree_from_state_dict

__all__ = [
    "CourseModel",
    "ModuleConversion",
    "ModuleNode",
    "RebuiltPolicy",
    "convert",
    "convert_module",
    "evaluate_agent",
    "load_course_model",
    "package_agent",
    "package_module",
    "push_to_hub",
    "rebuild_policy",
    "record_video",
    "tree_from_module",
    "tree_from_state_dict",
]
