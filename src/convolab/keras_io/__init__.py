"""Keras interoperability: import Keras models without TensorFlow, export convolab models.

- ``import_keras(path, spec=None)``: a ``.keras`` / ``.h5`` / ``.weights.h5`` file as a convolab model
  (``reader`` reads safely, ``structure`` flattens the model, ``mapping`` converts layers and weights).
- ``write_run(imported, out)``: store it as a convolab run (``convolab evaluate/reconstruct/summary``).
- ``export_onnx`` / ``export_torchscript`` (``export``): a convolab model for deployment.
"""

from convolab.keras_io.importer import ImportedModel, import_keras, write_run
from convolab.keras_io.reader import KerasFile, KerasFileError, read_keras_file

__all__ = ["ImportedModel", "KerasFile", "KerasFileError", "import_keras", "read_keras_file", "write_run"]
