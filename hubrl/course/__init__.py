"""hubrl.course: Deep RL Course notebook repos (``model.pt`` + hyperparameters.json), loaded without running them.

``rebuild`` turns a module tree (read from a file, a state_dict or a live module) into hubrl's MLP policy.
"""

from hubrl.course._old_unpickler import CourseModel, load_course_model
from hubrl.course.rebuild import ModuleNode, RebuiltPolicy, rebuild_policy, tree_from_module, tree_from_state_dict

__all__ = [
    "CourseModel",
    "ModuleNode",
    "RebuiltPolicy",
    "load_course_model",
    "rebuild_policy",
    "tree_from_module",
    "tree_from_state_dict",
]
