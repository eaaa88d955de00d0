"""The signac data space: create/extend from a campaign, open, and consistency checks.

Identity lives in the state point (see :mod:`lpsens.statepoint`); the job document holds
status, seed, protocol, potential identity and provenance. Re-initialising with a larger spec
adds jobs and never touches existing ones; a spec whose protocol, potential or seed differ
for an existing job is refused, so results are never silently mixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import signac

from lpsens import __version__
from lpsens.campaign import Campaign, validate_potential, validate_uf3
from lpsens.errors import LpsensError, ProjectError
from lpsens.statepoint import SCHEMA_VERSION
from lpsens.status import JobStatus, utcnow

__all__ = ["InitReport", "init_project", "open_project", "find_job"]

#: Job-document fields that define how a job was (or will be) computed.
_IDENTITY_FIELDS = ("seed", "protocol", "potential", "system")


@dataclass(frozen=True)
class InitReport:
    root: Path
    added: int
    existing: int

    @property
    def total(self) -> int:
        return self.added + self.existing


def open_project(root: str | Path) -> signac.Project:
    """Open the lpsens project at ``root`` (no upward search), checking its schema version.

    Raises
    ------
    ProjectError
        No project at ``root``, a signac project that is not an lpsens one, or another schema version.
    """
    root = Path(root)
    try:
        project = signac.get_project(str(root), search=False)
    except LookupError:
        raise ProjectError(
            f"no lpsens project at {root.resolve()}; create one with 'lpsens init SPEC --root {root}'"
        ) from None
    version = project.doc.get("lpsens_schema_version")
    if version is None:
        raise ProjectError(
            f"{root.resolve()} is a signac project but not an lpsens one (no lpsens_schema_version); "
            "use 'lpsens init' on a new directory"
        )
    if version != SCHEMA_VERSION:
        raise ProjectError(
            f"project schema version {version}, this lpsens reads {SCHEMA_VERSION}; "
            "use the lpsens version that created it"
        )
    return project


def find_job(project: signac.Project, job_id: str):
    """A job by its id or a unique prefix.

    Raises
    ------
    ProjectError
        If no job, or more than one, has an id starting with ``job_id``.
    """
    matches = [j for j in project if j.id.startswith(job_id)]
    if len(matches) != 1:
        what = "no job" if not matches else f"{len(matches)} jobs"
        raise ProjectError(f"{what} with id starting '{job_id}' in {project.path}; see 'lpsens status --detailed'")
    return matches[0]


def _job_identity(campaign: Campaign, sp, protocol, potential_info, uf3_info=None) -> dict:
    return {
        "seed": campaign.seed_for(sp),
        "protocol": protocol.to_dict(),
        "potential": {
            "path": str(potential_info.path),
            "label": potential_info.label,
            "sha256": potential_info.sha256,
            "bundled": None if campaign.potential.bundled is None else campaign.potential.bundled.value,
            # How MD evaluates it (docs/md.md); the launcher sizes a task's rank group by ranks_per_task.
            "backend": campaign.potential.backend,
            "uf3_path": None if uf3_info is None else str(uf3_info.path),
            "uf3_sha256": None if uf3_info is None else uf3_info.sha256,
            "uf3_bundled": uf3_info is not None and campaign.potential.uf3_bundled,
            "ranks_per_task": campaign.potential.ranks_per_task,
        },
        "system": campaign.system.to_dict(),
    }


def _same(existing: dict, wanted: dict, key: str) -> bool:
    if key == "potential":  # files may move; contents (hashes), label and backend are the identity
        ident = ("sha256", "label", "uf3_sha256", "backend")
        defaults = {"backend": "auto"}  # jobs made before the uf3 backend existed
        return all(existing.get(k, defaults.get(k)) == wanted.get(k, defaults.get(k)) for k in ident)
    if key == "protocol":  # fill settings added since the job was created with their defaults
        from lpsens.md.protocol import MDProtocol

        try:
            existing = MDProtocol.from_dict(dict(existing)).to_dict()
        except LpsensError:
            return False
    return existing == wanted


def init_project(campaign: Campaign, root: str | Path) -> InitReport:
    """Create or extend the project at ``root`` with one job per state point of ``campaign``.

    Everything is checked before the first write: a bad potential, another schema version,
    or an existing job whose identity fields differ raise and leave the directory untouched.

    Raises
    ------
    ProjectError
        If a job exists with different identity fields (protocol, potential...: results would be
        mixed), or ``root`` is not an lpsens project of this schema version.
    SpecError
        If the campaign's potential (or its compiled file) cannot be used.
    """
    root = Path(root)
    info = validate_potential(campaign.potential, file=campaign.source)
    uf3_info = validate_uf3(campaign.potential, info.sha256, file=campaign.source)
    wanted = [(sp, _job_identity(campaign, sp, proto, info, uf3_info)) for sp, proto in campaign.state_points()]

    project = None
    if (root / ".signac").is_dir():
        project = open_project(root)
        from lpsens.train.generations import KIND as TRAINING_KIND

        if project.doc.get("kind") == TRAINING_KIND:  # MD jobs there would be tasks the campaign cannot run
            raise ProjectError("this is a training campaign ('lpsens train'), not an MD one; use a new --root "
                               "for 'lpsens init'", file=root.resolve())
    if project is not None:
        for sp, ident in wanted:
            job = project.open_job(sp.to_dict())
            if job in project:
                doc = job.doc
                for key in _IDENTITY_FIELDS:
                    if key in doc and not _same(doc[key], ident[key], key):
                        raise ProjectError(
                            f"job {job.id} ({sp.label()}) exists with a different '{key}' "
                            f"({doc[key]!r} vs {ident[key]!r}); mixing them would mix results. "
                            "Use a new --root for the changed campaign",
                            file=campaign.source,
                        )
    else:
        root.mkdir(parents=True, exist_ok=True)
        project = signac.init_project(str(root))
        project.doc.update(
            {"lpsens_schema_version": SCHEMA_VERSION, "created": utcnow(), "lpsens_version": __version__}
        )

    added = existing = 0
    now = utcnow()
    for sp, ident in wanted:
        job = project.open_job(sp.to_dict())
        if job in project:
            existing += 1
            continue
        job.init()
        job.doc.update(
            {
                **ident,
                "status": JobStatus.PENDING.value,
                "reason": None,
                "progress_steps": 0,
                "total_steps": campaign_total_steps(ident["protocol"]),
                "attempts": 0,
                "created": now,
                "updated": now,
                "campaign": campaign.name,
                "lpsens_version": __version__,
            }
        )
        added += 1
    if campaign.analysis:
        project.doc["analysis_settings"] = campaign.analysis
    campaigns = list(project.doc.get("campaigns", []))
    campaigns.append({"name": campaign.name, "spec": str(campaign.source), "at": now, "added": added})
    project.doc["campaigns"] = campaigns
    return InitReport(root, added, existing)


def campaign_total_steps(protocol: dict) -> int:
    from lpsens.md.protocol import MDProtocol

    return MDProtocol.from_dict(protocol).total_steps
