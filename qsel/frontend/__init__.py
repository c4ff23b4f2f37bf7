"""qsel.frontend — networks and calibration data in, the neuron-interaction IR out, masks back.

* :mod:`qsel.frontend.network`  the in-memory Network (dense / conv2d layers, activations, masks)
* :mod:`qsel.frontend.formats`  model files: qsel .npz, scikit-learn (joblib), ONNX, PyTorch
* :mod:`qsel.frontend.data`     calibration batches: built-in datasets and .npy/.npz/.csv files
* :mod:`qsel.frontend.lowering` the objective: Q = (A^T A / m) o (W^T W), r, cardinality constraints
"""
