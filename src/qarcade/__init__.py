"""qarcade: value-based reinforcement learning from the Q-learning / DQN lab.

Importing qarcade registers its Gymnasium environments (``qarcade/MDP-v0``,
``qarcade/GridWorld-v0``).
"""

from qarcade.envs import register_envs
from qarcade.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "__version__"]

register_envs()
