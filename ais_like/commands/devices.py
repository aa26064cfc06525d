"""Report the Keras backend and the devices (CPU, GPUs) that training and inference use.

Select another backend with the environment variable KERAS_BACKEND (tensorflow, torch, jax).
"""

import json


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args) -> int:
    from ..backend import device_report

    report = device_report()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"backend: {report['backend']} (keras {report['keras']})")
        for d in report["devices"]:
            print(f"device:  {d}")
        print("GPU:     " + ("yes" if report["gpu"] else "no (CPU only)"))
    return 0
