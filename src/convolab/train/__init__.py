"""Training autoencoders: config, loop, batch sources, distributed context, checkpoints, run folders.

Modules (docs/architecture.md, "Training"):

- ``config``      ``TrainConfig`` (no torch: ``convolab train --help`` reads its fields)
- ``session``     ``start``, ``resume``, ``train``: a ``Trainer`` from a config or a run folder
- ``loop``        ``Trainer``: the loop, validation, checkpoints, the final evaluation
- ``sources``     ``BatchSource`` and the in-memory ``TensorSource``; ``folder_source``: streaming
- ``batchorder``  the epoch permutation, global batches and rank shares, seeded noise
- ``context``     ``LocalContext`` (one process); ``distributed``: ``DistContext`` (torchrun + DDP)
- ``fit``         ``fit``, ``resume``: the Python front end (``convolab.fit``); ``run``: ``Run``, ``load_run``
- ``arrays``      images given as arrays (``fit``'s in-memory datasets, ``predict``, ``evaluate``)
- ``keras_api``   ``predict``, ``evaluate`` of a model on arrays (``model.predict``, Keras style)
- ``run_data``    ``RunData``, ``load_run_data``; ``run_model``: ``build_seeded_model``, ``checkpoint_model``
- ``run_checkpoints``  the commit order of checkpoints, ``open_resume``
- ``report``      figures, evaluate, reconstruct, compare of a run folder (``evaluation``, ``figures``)
- ``checkpoint``, ``runfolder``, ``progress``, ``streaming``, ``stream_data``, ``device``

The public names are declared once, in ``__init__.pyi`` next to this file, and imported on first use
(``lazy_loader.attach_stub``), so ``import convolab.train.config`` stays light.
"""

from __future__ import annotations

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
