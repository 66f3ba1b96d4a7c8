# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Datasets that refuse to be empty, and the user formats' checked types.

An mmengine dataset that is empty after loading and filtering fails while it
serializes its data list ("need at least one array to concatenate"), naming
neither the files nor the filter. The datasets here stop at the filter with
both (:func:`~mogavision.datasets.agreement.empty_dataset_message`).
``tools/train.py``, ``tools/test.py`` and ``browse_dataset.py`` use them in
place of the toolboxes' types (``use_checked_data_loading``).
"""
import logging
from collections import Counter
from typing import List

from mmdet.datasets import XMLDataset
from mmengine.logging import print_log
from mmpretrain.datasets import CustomDataset
from mmseg.datasets import BaseSegDataset

from mogavision.datasets.agreement import (DataAgreementError,
                                           empty_dataset_message)
from mogavision.registry import DATASETS, register_in_toolboxes


class NonEmptyMixin:
    """``filter_data`` that raises, naming the files and the filter, when
    nothing is left."""

    def filter_data(self) -> List[dict]:
        kept = super().filter_data()
        if not kept:
            raise DataAgreementError(
                empty_dataset_message(self, len(self.data_list)))
        return kept


@DATASETS.register_module()
class CheckedXMLDataset(NonEmptyMixin, XMLDataset):
    """mmdet's ``XMLDataset`` (Pascal-VOC-style annotations) that is never
    silently empty and warns, with counts, about objects whose ``<name>`` is
    no class (mmdet leaves them out without a word)."""

    def load_data_list(self) -> List[dict]:
        self.unknown_names = Counter()
        data_list = super().load_data_list()
        if self.unknown_names:
            print_log(
                f'{self.ann_file}: {sum(self.unknown_names.values())} objects '
                'whose <name> is not in metainfo.classes '
                f'{list(self.metainfo["classes"])[:5]} are left out '
                f'({dict(self.unknown_names.most_common(5))}); add them to '
                'the classes to train on them.', logger='current',
                level=logging.WARNING)
        return data_list

    def _parse_instance_info(self, raw_ann_info, minus_one: bool = True):
        classes = self._metainfo['classes']
        self.unknown_names.update(
            name for name in (obj.find('name').text
                              for obj in raw_ann_info.findall('object'))
            if name not in classes)
        return super()._parse_instance_info(raw_ann_info, minus_one)


@DATASETS.register_module()
class CheckedSegDataset(NonEmptyMixin, BaseSegDataset):
    """mmseg's ``BaseSegDataset`` (``img_dir``/``ann_dir`` folders) that is
    never silently empty (wrong suffixes find no file)."""


@DATASETS.register_module()
class CheckedCustomDataset(NonEmptyMixin, CustomDataset):
    """mmpretrain's ``CustomDataset`` (class folders or an annotation list)
    that is never silently empty."""


register_in_toolboxes(CheckedXMLDataset, 'DATASETS', scopes=('mmdet', ))
register_in_toolboxes(CheckedSegDataset, 'DATASETS', scopes=('mmseg', ))
register_in_toolboxes(CheckedCustomDataset, 'DATASETS',
                      scopes=('mmpretrain', ))
