"""Run ``cloud/train.py`` as a SageMaker training job, with plain boto3 (no SageMaker SDK).

The job uses AWS's prebuilt scikit-learn training container. The code travels the way that
container expects: ``sourcedir.tar.gz`` (``cloud/``, ``edge/``, a ``requirements.txt``
pinning our library versions, which the container pip-installs) is uploaded to S3 and
named by the hyperparameters ``sagemaker_submit_directory`` and ``sagemaker_program``; the
data is the ``train`` channel; every hyperparameter is a JSON-encoded string, which the
container decodes and passes to the script as ``--name value``. Inside, ``cloud/train.py``
reads ``SM_CHANNEL_TRAIN`` and writes the artifact to ``SM_MODEL_DIR`` and the report to
``SM_OUTPUT_DATA_DIR`` (cloud/training/options.py).

The signing key never leaves this machine: the job writes an *unsigned* artifact
(``--unsigned true``), and when it completes, ``fetch_and_sign`` downloads it, signs its
manifest here and writes ``<out>/<version>/`` and ``<out>/<version>.tar.gz``.

Caveat: the prebuilt images run an older Python than this project's 3.11; pass
``--image-uri`` for an image with Python ≥ 3.11 (e.g. built from the same container
recipe) if the default one refuses the code.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

# Accounts of the prebuilt scikit-learn images (AWS "Docker registry paths", sklearn).
SKLEARN_ACCOUNTS: dict[str, str] = {
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-central-1": "492215442770",
}
SKLEARN_FRAMEWORK = "1.2-1"
PROGRAM = "cloud/train.py"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")
PINNED = ("numpy", "scipy", "scikit-learn", "joblib", "pydantic", "cryptography", "boto3",
          "skl2onnx", "onnx", "onnxruntime", "matplotlib", "tqdm")


def image_uri(region: str, framework: str = SKLEARN_FRAMEWORK) -> str:
    """The prebuilt scikit-learn training image for ``region``.

    :raises ValueError: for a region not in the table (pass ``--image-uri`` then).
    """
    account = SKLEARN_ACCOUNTS.get(region)
    if account is None:
        raise ValueError(f"no scikit-learn image known for region {region!r}; known: "
                         f"{', '.join(sorted(SKLEARN_ACCOUNTS))} (or pass --image-uri)")
    return f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:{framework}-cpu-py3"


def requirements_txt() -> str:
    """The versions of our libraries here, pinned, for the container to install."""
    lines = []
    for name in PINNED:
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(name)
    return "\n".join(lines) + "\n"


def package_sourcedir(root: Path, dest: Path) -> Path:
    """``dest`` = a tar.gz of ``cloud/`` and ``edge/`` (no caches) plus requirements.txt."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if "__pycache__" in info.name or info.name.endswith((".pyc", ".pyo")):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(dest, "w:gz") as tar:
        for pkg in ("cloud", "edge"):
            tar.add(root / pkg, arcname=pkg, filter=clean)
        data = requirements_txt().encode()
        info = tarfile.TarInfo("requirements.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return dest


def hyperparameters(script_args: Mapping[str, Any], submit_directory: str, region: str
                    ) -> dict[str, str]:
    """The job's hyperparameters: every value JSON-encoded, as the container expects."""
    hp: dict[str, Any] = dict(script_args)
    hp.update({
        "sagemaker_submit_directory": submit_directory,
        "sagemaker_program": PROGRAM,
        "sagemaker_region": region,
        "sagemaker_container_log_level": logging.INFO,
    })
    return {k: json.dumps(v) for k, v in hp.items()}


def script_args(args: argparse.Namespace) -> dict[str, Any]:
    """The options ``cloud/train.py`` gets inside the job (data comes from the channel)."""
    from cloud.training.options import default_feature_set

    out: dict[str, Any] = {
        "seed": args.seed, "members": args.members, "target-far": args.target_far,
        "weight-metric": args.weight_metric, "lag": args.lag, "unsigned": True,
        "holdout-families": bool(args.holdout_families), "strict": bool(args.strict),
        "feature-set": args.feature_set or default_feature_set(args.simulate, args.data),
        "labels": args.labels,
    }
    if args.simulate:
        out.update({"simulate": args.simulate, "sim-duration": args.sim_duration,
                    "sim-rate": "vary" if args.sim_rate is None else args.sim_rate,
                    "sim-engines": ",".join(args.sim_engines),
                    "sim-variation": bool(args.sim_variation), "workers": args.workers})
    if args.param:
        out["param"] = ";".join(args.param)
    return out


def training_job_request(*, job_name: str, role_arn: str, image: str,
                         hyperparameters: Mapping[str, str], train_s3: str | None,
                         output_s3: str, instance_type: str = "ml.m5.large",
                         max_runtime_s: int = 86_400, volume_gb: int = 30) -> dict[str, Any]:
    """The CreateTrainingJob request."""
    req: dict[str, Any] = {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": dict(hyperparameters),
        "OutputDataConfig": {"S3OutputPath": output_s3},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1,
                           "VolumeSizeInGB": volume_gb},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_s},
    }
    if train_s3 is not None:
        req["InputDataConfig"] = [{
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": train_s3,
                                            "S3DataDistributionType": "FullyReplicated"}},
        }]
    return req


class _LogTail:
    """Prints new CloudWatch events of every stream of one job."""

    def __init__(self, logs: Any, job_name: str, out: IO[str]) -> None:
        self.logs, self.job, self.out = logs, job_name, out
        self.tokens: dict[str, str | None] = {}

    def poll(self) -> None:
        try:
            streams = self.logs.describe_log_streams(
                logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.job}/")["logStreams"]
        except self.logs.exceptions.ResourceNotFoundException:
            return  # the job has not logged yet
        for stream in streams:
            name = stream["logStreamName"]
            while True:
                kw: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": name,
                                      "startFromHead": True}
                if self.tokens.get(name):
                    kw["nextToken"] = self.tokens[name]
                page = self.logs.get_log_events(**kw)
                for ev in page["events"]:
                    print(f"[{name.split('/')[-1]}] {ev['message']}", file=self.out)
                token = page.get("nextForwardToken")
                if not page["events"] or token == self.tokens.get(name):
                    self.tokens[name] = token
                    break
                self.tokens[name] = token


def follow(sm: Any, logs: Any, job_name: str, *, poll_s: float = 20.0,
           sleep: Callable[[float], None] = time.sleep, out: IO[str] = sys.stderr
           ) -> dict[str, Any]:
    """Follow a job to its end: status transitions and log lines on ``out``; returns the
    final DescribeTrainingJob answer."""
    tail = _LogTail(logs, job_name, out)
    seen = 0
    while True:
        desc: dict[str, Any] = sm.describe_training_job(TrainingJobName=job_name)
        transitions = desc.get("SecondaryStatusTransitions", [])
        for tr in transitions[seen:]:
            print(f"{job_name}: {tr['Status']} — {tr.get('StatusMessage', '')}", file=out)
        seen = len(transitions)
        tail.poll()
        status = desc["TrainingJobStatus"]
        if status in TERMINAL:
            print(f"{job_name}: {status}" + (f": {desc['FailureReason']}"
                                             if desc.get("FailureReason") else ""), file=out)
            return desc
        sleep(poll_s)


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    for m in tar.getmembers():
        target = (dest / m.name).resolve()
        if not (m.isfile() or m.isdir()) or not target.is_relative_to(dest.resolve()):
            raise ValueError(f"model output: member {m.name!r} is not a plain file inside "
                             f"the archive")
    tar.extractall(dest, filter="data")


def fetch_and_sign(s3: Any, model_s3_url: str, out_dir: Path, key: Any) -> Path:
    """Download the job's ``model.tar.gz``, sign the artifact inside it here, and write
    ``out_dir/<version>/`` + ``<version>.tar.gz`` (never overwriting). Returns the folder."""
    from cloud.artifact.s3 import parse_s3_url
    from cloud.artifact.signing import sign
    from cloud.artifact.write import _make_tarball

    bucket, obj = parse_s3_url(model_s3_url)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "model.tar.gz"
        s3.download_file(bucket, obj, str(local))
        unpacked = Path(tmp) / "unpacked"
        unpacked.mkdir()
        with tarfile.open(local) as tar:
            _safe_extract(tar, unpacked)
        manifests = sorted(unpacked.glob("*/manifest.json"))
        if len(manifests) != 1:
            raise ValueError(f"{model_s3_url}: expected one <version>/manifest.json, found "
                             f"{len(manifests)}")
        folder = manifests[0].parent
        version = folder.name
        for p in (out_dir / version, out_dir / f"{version}.tar.gz"):
            if p.exists():
                raise FileExistsError(f"{p}: exists; refusing to overwrite a model artifact")
        (folder / "manifest.json.sig").write_bytes(sign(manifests[0].read_bytes(), key) + b"\n")
        out_dir.mkdir(parents=True, exist_ok=True)
        _make_tarball(folder, version, out_dir / f"{version}.tar.gz")
        shutil.copytree(folder, out_dir / version)
    return out_dir / version


def launch_from_args(args: argparse.Namespace) -> int:
    """``cloud/train.py --sagemaker ...``: package, upload, start, follow, fetch and sign."""
    import boto3

    from cloud.artifact.s3 import parse_s3_url
    from cloud.training import options as train_cli

    try:
        if not args.role:
            raise ValueError("--sagemaker needs the job's role: --role ARN or "
                             "$SAGEMAKER_ROLE_ARN")
        if not args.sm_s3:
            raise ValueError("--sagemaker needs --sm-s3 s3://bucket/prefix/ for code and output")
        remote = [d for d in args.data if d.startswith("s3://")]
        if len(remote) != len(args.data) or len(remote) > 1:
            raise ValueError("--sagemaker reads one s3:// data prefix (upload local files "
                             "first)")
        if not remote and not args.simulate:
            raise ValueError("--sagemaker needs --data s3://... or --simulate N")
        key = train_cli.signing_key(args)
        bucket, prefix = parse_s3_url(args.sm_s3)
    except ValueError as exc:
        return train_cli.fail(str(exc))
    session = boto3.session.Session(region_name=args.region)
    region = session.region_name or "us-east-1"
    image = args.image_uri or image_uri(region)
    job = args.job_name or f"firedetect-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    base = f"{prefix}/{job}" if prefix else job
    s3 = session.client("s3", endpoint_url=args.s3_endpoint_url)
    with tempfile.TemporaryDirectory() as tmp:
        src = package_sourcedir(Path(__file__).resolve().parents[1], Path(tmp) / "src.tar.gz")
        s3.upload_file(str(src), bucket, f"{base}/source/sourcedir.tar.gz")
    submit = f"s3://{bucket}/{base}/source/sourcedir.tar.gz"
    req = training_job_request(
        job_name=job, role_arn=args.role, image=image,
        hyperparameters=hyperparameters(script_args(args), submit, region),
        train_s3=remote[0] if remote else None, output_s3=f"s3://{bucket}/{base}/output",
        instance_type=args.instance_type)
    sm = session.client("sagemaker")
    sm.create_training_job(**req)
    print(f"started SageMaker job {job} ({args.instance_type}, {image})", file=sys.stderr)
    desc = follow(sm, session.client("logs"), job)
    if desc["TrainingJobStatus"] != "Completed":
        return 1
    model = desc["ModelArtifacts"]["S3ModelArtifacts"]
    if key is None:
        print(f"unsigned artifact: {model}", file=sys.stderr)
        return 0
    folder = fetch_and_sign(s3, model, Path(args.out), key)
    print(f"artifact: {folder} (signed here)", file=sys.stderr)
    if args.upload:
        from cloud.artifact.s3 import upload_artifact

        name = upload_artifact(folder.parent / f"{folder.name}.tar.gz", args.upload,
                               endpoint_url=args.s3_endpoint_url, private_key=key)
        print(f"uploaded: {name} under {args.upload}", file=sys.stderr)
    return 0
