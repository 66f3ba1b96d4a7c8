# Your keypoint set, in mmpose's dataset_info format: one entry per keypoint
# (ids 0..K-1, in the order of the COCO json's "keypoints" lists), its mirror
# image under a horizontal flip ("swap"; mutual, or '' for a centre point),
# the skeleton drawn, and per keypoint a loss weight and the OKS sigma the
# COCO keypoint metric uses (0.025-0.1: larger for keypoints people place
# less exactly). This example: 5 face keypoints.
dataset_info = dict(
    dataset_name='my_keypoints',
    keypoint_info={
        0: dict(name='nose', id=0, color=[51, 153, 255], type='upper',
                swap=''),
        1: dict(name='left_eye', id=1, color=[0, 255, 0], type='upper',
                swap='right_eye'),
        2: dict(name='right_eye', id=2, color=[255, 128, 0], type='upper',
                swap='left_eye'),
        3: dict(name='left_ear', id=3, color=[0, 255, 0], type='upper',
                swap='right_ear'),
        4: dict(name='right_ear', id=4, color=[255, 128, 0], type='upper',
                swap='left_ear'),
    },
    skeleton_info={
        0: dict(link=('left_eye', 'right_eye'), id=0, color=[51, 153, 255]),
        1: dict(link=('nose', 'left_eye'), id=1, color=[0, 255, 0]),
        2: dict(link=('nose', 'right_eye'), id=2, color=[255, 128, 0]),
        3: dict(link=('left_eye', 'left_ear'), id=3, color=[0, 255, 0]),
        4: dict(link=('right_eye', 'right_ear'), id=4, color=[255, 128, 0]),
    },
    joint_weights=[1., 1., 1., 1., 1.],
    sigmas=[0.026, 0.025, 0.025, 0.035, 0.035])
