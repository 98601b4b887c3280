"""The public API of ``convolab.train``, declared once: type checkers read these imports, and
``__init__.py`` loads each name from them on first use (``lazy_loader.attach_stub``)."""

from .batchorder import add_noise as add_noise
from .batchorder import derive_seed as derive_seed
from .batchorder import epoch_permutation as epoch_permutation
from .checkpoint import load_checkpoint as load_checkpoint
from .checkpoint import save_checkpoint as save_checkpoint
from .config import ConfigError as ConfigError
from .config import TrainConfig as TrainConfig
from .fit import fit as fit
from .keras_api import evaluate as evaluate
from .keras_api import predict as predict
from .loop import NonFiniteLossError as NonFiniteLossError
from .loop import Trainer as Trainer
from .loop import TrainingInterrupted as TrainingInterrupted
from .loop import TrainResult as TrainResult
from .run import History as History
from .run import Run as Run
from .run import load_run as load_run
from .session import draw_figures as draw_figures
from .session import resume as resume
from .session import start as start
from .session import train as train
from .sources import BatchSource as BatchSource
from .sources import TensorSource as TensorSource
