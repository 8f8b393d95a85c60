"""Models by name: a registry of ResNets (one configurable class) and the seeds' baselines.

from engine.models import create_model, list_models
model = create_model(ModelConfig(name="resnet24"), in_chans=3, num_classes=10, input_size=32)
"""

from engine.models import cnn as _cnn  # noqa: F401  (registers baseline-cnn)
from engine.models import fast as _fast  # noqa: F401  (registers airbench)
from engine.models import resnet as _resnet  # noqa: F401  (registers the ResNets)
from engine.models import vgg as _vgg  # noqa: F401  (registers vgg16, vgg16-bn)
from engine.models.registry import (
    BackboneLrScale,
    ModelInfo,
    applicable_fields,
    backbone_norms_eval,
    classifier_param_names,
    count_params,
    create_model,
    get_classifier,
    list_models,
    model_info,
    register_model,
    summary,
)
from engine.models.resnet import BasicBlock, Bottleneck, ResNet, SqueezeExcite

__all__ = [
    "BackboneLrScale",
    "BasicBlock",
    "Bottleneck",
    "ModelInfo",
    "ResNet",
    "SqueezeExcite",
    "applicable_fields",
    "backbone_norms_eval",
    "classifier_param_names",
    "count_params",
    "create_model",
    "get_classifier",
    "list_models",
    "model_info",
    "register_model",
    "summary",
]
