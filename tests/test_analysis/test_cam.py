"""Class activation maps through pytorch-grad-cam: a model that only looks
at one quadrant lights that quadrant; layer lookup and token reshaping."""
import re

import pytest
import torch
import torch.nn as nn

from mogavision.analysis.cam import (CAM_METHODS, FeatureMaps, cam_class,
                                     check_target_layers, compute_cam,
                                     default_target_layer, find_layer,
                                     overlay_cam, token_grid)

HEIGHT, WIDTH = 40, 56  # not square: a transposed map cannot pass


class TopLeftClassifier(nn.Module):
    """Logits that depend on the top-left quadrant of the image only."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.features = nn.ReLU()
        self.head = nn.Linear(6, 3)
        with torch.no_grad():
            self.head.weight.abs_()  # class evidence grows with activation
        quadrant = torch.zeros(1, 1, HEIGHT, WIDTH)
        quadrant[..., :HEIGHT // 2, :WIDTH // 2] = 1
        self.register_buffer('quadrant', quadrant)

    def forward(self, x):
        features = self.features(self.conv(x * self.quadrant))
        return self.head(features.mean((2, 3)))


@pytest.mark.parametrize('method', ['gradcam', 'gradcam++', 'scorecam',
                                    'layercam'])
def test_cam_lights_the_quadrant_the_logit_depends_on(method):
    model = TopLeftClassifier().eval()
    image = torch.rand(1, 3, HEIGHT, WIDTH,
                       generator=torch.Generator().manual_seed(1))
    cam, label, score = compute_cam(model, image, [model.features], method)
    assert cam.shape == (HEIGHT, WIDTH)
    assert 0 <= cam.min() and cam.max() <= 1 and cam.std() > 0
    assert label == int(model(image).argmax()) and 0 < score < 1
    h, w = HEIGHT // 2, WIDTH // 2
    inside = cam[:h - 1, :w - 1].mean()  # the conv spills one pixel out
    outside = [cam[h + 1:, :].mean(), cam[:, w + 1:].mean()]
    assert inside > 0.05 and max(outside) < 0.02 * inside, (inside, outside)


def test_cam_of_a_given_class_and_errors():
    model = TopLeftClassifier().eval()
    image = torch.rand(1, 3, HEIGHT, WIDTH)
    _, label, _ = compute_cam(model, image, [model.features], 'GradCAM',
                              target_class=2)
    assert label == 2
    with pytest.raises(ValueError, match='out of range'):
        compute_cam(model, image, [model.features], target_class=3)
    with pytest.raises(ValueError, match=re.escape(', '.join(CAM_METHODS))):
        cam_class('gradcam3')


def test_find_layer_takes_the_last_module_of_a_module_list():
    model = nn.Module()
    model.backbone = nn.Module()
    model.backbone.blocks4 = nn.ModuleList([nn.Identity(), nn.ReLU()])
    model.backbone.norm4 = nn.BatchNorm2d(2)
    layer, name = find_layer(model, 'backbone.blocks4')
    assert isinstance(layer, nn.ReLU) and name == 'backbone.blocks4.1'
    with pytest.raises(KeyError, match='backbone.norm4'):
        find_layer(model, 'backbone.norm5')


def test_default_target_layers():
    class ConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, stride=2)
            self.act = nn.ReLU()  # shared: runs twice
            self.stage = nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4))

        def forward(self, x):
            return (self.act(self.stage(self.act(self.stem(x)))), )

    backbone = ConvNet()
    assert default_target_layer(backbone, backbone,
                                torch.rand(1, 3, 16, 16)) == 'backbone.stage'

    class TokenNet(nn.Module):
        num_extra_tokens = 1

        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(nn.Module() for _ in range(3))
            for layer in self.layers:
                layer.ln1 = nn.LayerNorm(4)

    assert default_target_layer(None, TokenNet(), None) == \
        'backbone.layers.2.ln1'


def test_target_layer_checks():
    shared = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(3, 2, 1), shared, nn.Conv2d(2, 2, 1),
                          shared)
    x = torch.rand(1, 3, 4, 4)
    check_target_layers(model, x, [('0', model[0])])
    with pytest.raises(ValueError, match='runs 2 times'):
        check_target_layers(model, x, [('1', shared)])
    with pytest.raises(ValueError, match='does not run'):
        check_target_layers(model, x, [('x', nn.ReLU())])


def test_tokens_become_feature_maps():
    maps = torch.randn(2, 5, 3, 4)  # (B, C, h, w)
    tokens = maps.flatten(2).transpose(1, 2)  # (B, h * w, C)
    with_cls = torch.cat([torch.randn(2, 1, 5), tokens], 1)
    assert token_grid(13, 30, 40) == (1, 3, 4)
    torch.testing.assert_close(FeatureMaps((30, 40))(with_cls), maps)
    torch.testing.assert_close(FeatureMaps((30, 40), 0)(tokens), maps)
    torch.testing.assert_close(FeatureMaps((30, 40))((maps, maps * 2)),
                               maps * 2)


def test_overlay_keeps_the_image_size():
    image = torch.randint(0, 255, (12, 20, 3), dtype=torch.uint8).numpy()
    cam = torch.rand(12, 20).numpy()
    picture = overlay_cam(image, cam)
    assert picture.shape == (12, 20, 3) and picture.dtype.name == 'uint8'
    with pytest.raises(ValueError, match='sizes differ'):
        overlay_cam(image, cam[:, :10])
