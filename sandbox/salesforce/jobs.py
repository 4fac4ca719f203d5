"""What Bulk API 2.0 ingest and query jobs share: the CSV format a job is created with, and
the registry of one kind of job (ids, lookup, listing, deletion)."""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from sandbox.httpbase import Request, Response
from sandbox.salesforce import ids
from sandbox.salesforce.errors import fail

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
              "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


def csv_format(body: dict[str, Any]) -> tuple[str, str]:
    """(lineEnding, columnDelimiter) of a job's create body, defaults LF and COMMA; 400
    INVALIDJOB for content other than CSV or an unknown option, as Salesforce answers."""
    if (body.get("contentType") or "CSV") != "CSV":
        raise fail(400, "INVALIDJOB", "InvalidJob : Only CSV content is supported")
    line_ending = body.get("lineEnding") or "LF"
    delimiter = body.get("columnDelimiter") or "COMMA"
    if line_ending not in LINE_ENDINGS or delimiter not in DELIMITERS:
        raise fail(400, "INVALIDJOB", "InvalidJob : Invalid lineEnding or columnDelimiter")
    return line_ending, delimiter


class BulkJob(Protocol):
    id: str
    state: str

    def info(self, full: bool = True) -> dict[str, Any]: ...


JobT = TypeVar("JobT", bound=BulkJob)


class JobRegistry(Generic[JobT]):
    """The jobs of one resource. Ids are 750-prefixed (AsyncApexJob), numbered from
    `first_number` + 1 so that ingest and query jobs never share one."""

    def __init__(self, first_number: int = 0) -> None:
        self.jobs: dict[str, JobT] = {}
        self.seq = 0
        self._first = first_number

    def reset(self) -> None:
        self.jobs.clear()
        self.seq = 0

    def next_id(self) -> str:
        self.seq += 1
        return ids.make_id("750", self._first + self.seq)

    def created(self, job: JobT) -> Response:
        self.jobs[job.id] = job
        return Response.json(200, job.info(full=False))

    def find(self, req: Request) -> JobT:
        job = self.jobs.get(ids.normalize(req.params["job_id"]) or "")
        if job is None:
            raise fail(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def listing(self, _req: Request) -> Response:
        return Response.json(200, {
            "done": True,
            "records": [j.info(full=False) for j in self.jobs.values()],
            "nextRecordsUrl": None,
        })

    def delete(self, job: JobT, busy: tuple[str, ...]) -> Response:
        """Remove a job unless its state is one of `busy` (400 INVALIDJOBSTATE)."""
        if job.state in busy:
            raise fail(400, "INVALIDJOBSTATE", f"Job in state {job.state} cannot be deleted")
        del self.jobs[job.id]
        return Response.empty(204)
