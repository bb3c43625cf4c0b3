"""Build the sample transition plan: Resa moves its market systems from UMIG 4 to MIG 6 (Atrias).

The plan is what a DSO cutover team could have written for the move to the central market system
(CMS): preparation (PP), controlled stop (AC), cut over (CO), controlled start (DC) and hand over
(HO), plus a fallback branch (FB-RB) that hangs off the go/no-go decision at the end of the cut over.
It is rehearsed in three dry runs (DR1, DR2 in acceptance, DR3 in pre-production) and executed for
real in LIVE. DEMO is a short dry run of its own to try the tool: nine steps of a few minutes (four
run by themselves: an export and its count, a SQL load and its check on make run's demo database),
none with a planned time, so the first asks as soon as it is triggered and each next one when the one
before is closed. Every name, e-mail address and runbook reference here is made up.

Usage::

    python plan/build_sample_plan.py [OUT]

OUT defaults to ``transition_plan.xlsx`` next to this script; ``plan/config.yaml`` points to it.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

try:
    from transition.workbook.writer import write_plan_workbook
except ImportError:  # run without the package installed: use the checkout's plugins folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
    from transition.workbook.writer import write_plan_workbook

DEFAULT_OUT = Path(__file__).resolve().parent / "transition_plan.xlsx"

Row = dict[str, Any]

PLAN_RUNS = "DR1, DR2, DR3, LIVE"  # the plan's rehearsals and the real run (not DEMO)


def step(
    step_id: str,
    label: str,
    owner: str,
    *,
    after: str = "",
    start: str = "",
    duration: str = "30m",
    dry_runs: str = PLAN_RUNS,
    environment: str = "",
    runbook: str = "",
    description: str = "",
    kind: str = "",
    approvals: int | None = None,
    action: str = "",
    expect: str = "",
) -> Row:
    """One row of the Steps sheet; the phase is the ID's prefix (``FB-`` steps are in ``FB-RB``)."""
    prefix = step_id.split("-")[0]
    return {
        "id": step_id,
        "label": label,
        "phase": "FB-RB" if prefix == "FB" else prefix,
        "dry_runs": dry_runs,
        "prerequisites": after,
        "start": start,
        "duration": duration,
        "owner": owner,
        "environment": environment,
        "description": description,
        "kind": kind,
        "approvals": approvals,
        "action": action,
        "expect": expect,
        "Runbook ref": runbook,  # an extra column: kept as metadata and shown to the owner
    }


# ---------------------------------------------------------------------------------------------
# Environments and dry runs

ENVIRONMENTS: list[Row] = [
    {
        "code": "ACC",
        "name": "Acceptance",
        "description": "Acceptance landscape, refreshed from a production snapshot before each dry run.",
    },
    {
        "code": "PRE",
        "name": "Pre-production",
        "description": "Production-like landscape connected to the Atrias CMS pre-production platform.",
    },
    {
        "code": "PRD",
        "name": "Production",
        "description": "Production market systems connected to the Atrias CMS production platform.",
    },
]


def _dry_run(name: str, d_day: dt.date, environment: str) -> Row:
    """A dry run that must be finished by D-day + 3 days, 18:00 local time."""
    end = dt.datetime.combine(d_day + dt.timedelta(days=3), dt.time(18, 0))
    return {"name": name, "d_day": d_day, "end": end, "environment": environment}


DRY_RUNS: list[Row] = [
    _dry_run("DR1", dt.date(2026, 10, 3), "ACC"),
    _dry_run("DR2", dt.date(2027, 1, 16), "ACC"),
    _dry_run("DR3", dt.date(2027, 3, 13), "PRE"),
    _dry_run("LIVE", dt.date(2027, 5, 8), "PRD"),
    # To try the tool: no End, no planned time (make run dates it the day it starts).
    {"name": "DEMO", "d_day": dt.date(2026, 9, 1), "end": None, "environment": "ACC"},
]

# ---------------------------------------------------------------------------------------------
# Actors: two department heads, team leaders, and the people who own step-actions

ACTORS: list[Row] = [
    # Department heads
    {
        "id": "pgilson",
        "name": "Pierre Gilson",
        "email": "pierre.gilson@example.com",
        "team": "Management",
        "team_leader": "pgilson",
        "department_head": "pgilson",
        "language": "fr",
    },
    {
        "id": "ahenrard",
        "name": "Anne Henrard",
        "email": "anne.henrard@example.com",
        "team": "Management",
        "team_leader": "ahenrard",
        "department_head": "ahenrard",
        "language": "fr",
    },
    # Transition office (the two cutover managers)
    {
        "id": "mlambert",
        "name": "Marie Lambert",
        "email": "marie.lambert@example.com",
        "team": "Transition Office",
        "team_leader": "mlambert",
        "department_head": "pgilson",
        "language": "fr",
    },
    {
        "id": "tcollard",
        "name": "Thomas Collard",
        "email": "thomas.collard@example.com",
        "team": "Transition Office",
        "team_leader": "mlambert",
        "department_head": "pgilson",
        "language": "fr",
    },
    # Market systems (IT)
    {
        "id": "cdubois",
        "name": "Claire Dubois",
        "email": "claire.dubois@example.com",
        "team": "Market Systems",
        "team_leader": "cdubois",
        "department_head": "ahenrard",
        "language": "fr",
    },
    {
        "id": "nfrancois",
        "name": "Nicolas François",
        "email": "nicolas.francois@example.com",
        "team": "Market Systems",
        "team_leader": "cdubois",
        "department_head": "ahenrard",
        "language": "fr",
    },
    {
        "id": "sbennett",
        "name": "Sam Bennett",
        "email": "sam.bennett@example.com",
        "team": "Market Systems",
        "team_leader": "cdubois",
        "department_head": "ahenrard",
        "language": "en",
    },  # gateway vendor consultant
    # Infrastructure and databases (IT)
    {
        "id": "bwillems",
        "name": "Benoît Willems",
        "email": "benoit.willems@example.com",
        "team": "IT Infrastructure & DBA",
        "team_leader": "bwillems",
        "department_head": "ahenrard",
        "language": "fr",
    },
    {
        "id": "okowalski",
        "name": "Ola Kowalski",
        "email": "ola.kowalski@example.com",
        "team": "IT Infrastructure & DBA",
        "team_leader": "bwillems",
        "department_head": "ahenrard",
        "language": "en",
    },  # DBA consultant
    # Billing
    {
        "id": "lrenard",
        "name": "Laurence Renard",
        "email": "laurence.renard@example.com",
        "team": "Billing",
        "team_leader": "lrenard",
        "department_head": "pgilson",
        "language": "fr",
    },
    {
        "id": "emartin",
        "name": "Éric Martin",
        "email": "eric.martin@example.com",
        "team": "Billing",
        "team_leader": "lrenard",
        "department_head": "pgilson",
        "language": "fr",
    },
    # Metering
    {
        "id": "fhalleux",
        "name": "François Halleux",
        "email": "francois.halleux@example.com",
        "team": "Metering",
        "team_leader": "fhalleux",
        "department_head": "pgilson",
        "language": "fr",
    },
    {
        "id": "ijacquet",
        "name": "Isabelle Jacquet",
        "email": "isabelle.jacquet@example.com",
        "team": "Metering",
        "team_leader": "fhalleux",
        "department_head": "pgilson",
        "language": "fr",
    },
    # Grid data
    {
        "id": "sthiry",
        "name": "Sophie Thiry",
        "email": "sophie.thiry@example.com",
        "team": "Grid Data",
        "team_leader": "sthiry",
        "department_head": "pgilson",
        "language": "fr",
    },
    # Business and communication
    {
        "id": "vleclercq",
        "name": "Valérie Leclercq",
        "email": "valerie.leclercq@example.com",
        "team": "Business & Communication",
        "team_leader": "vleclercq",
        "department_head": "pgilson",
        "language": "fr",
    },
    {
        "id": "hclarke",
        "name": "Hannah Clarke",
        "email": "hannah.clarke@example.com",
        "team": "Business & Communication",
        "team_leader": "vleclercq",
        "department_head": "pgilson",
        "language": "en",
    },  # Atrias liaison consultant
]

# ---------------------------------------------------------------------------------------------
# Step-actions, in plan order. D-day is a Saturday: D-1 is the Friday of the controlled stop.

PREPARATION: list[Row] = [
    step(
        "PP-010",
        "Kick-off: confirm the cutover window with Atrias",
        "mlambert",
        start="D-10 09:00",
        duration="1h",
        runbook="TO-RB 1.1",
        description="Confirm the dry-run window with the Atrias programme and the Resa steering committee. "
        "Record the agreed D-day and the go/no-go times in the minutes.",
    ),
    step(
        "PP-020",
        "Publish the cutover calendar and the on-call list",
        "tcollard",
        after="PP-010",
        duration="2h",
        runbook="TO-RB 1.2",
        description="Send the calendar of this run (phases, checkpoints, bridge call numbers) to every team and "
        "publish the on-call list on the transition SharePoint.",
    ),
    step(
        "PP-030",
        "Announce the cutover to suppliers and BRPs",
        "vleclercq",
        after="PP-010",
        start="D-10 14:00",
        duration="2h",
        dry_runs="LIVE",
        runbook="COM-RB 2.1",
        description="Send the formal cutover notice to all suppliers and balance responsible parties:\n"
        "- date and duration of the market freeze;\n"
        "- UMIG 4 messages sent after the freeze are rejected;\n"
        "- contact point during the cutover weekend.",
    ),
    step(
        "PP-040",
        "Refresh the rehearsal environment from a production snapshot",
        "bwillems",
        after="PP-010",
        start="D-10 13:00",
        duration="1d",
        dry_runs="DR1, DR2, DR3",
        runbook="INF-RB 3.1",
        description="Restore last night's production snapshot (market, MDM and billing databases) on the "
        "environment of this dry run and anonymise customer names and bank accounts.",
    ),
    step(
        "PP-050",
        "Verify the MIG 6 release deployed on the target environment",
        "cdubois",
        after="PP-040",
        duration="2h",
        runbook="MKT-RB 1.4",
        description="Check the versions of the market gateway, the MDM connectors and the billing interfaces "
        "against the release note of the run. Attach the version report.",
    ),
    step(
        "PP-060",
        "Validate the MIG 6 code list release from Atrias",
        "sbennett",
        after="PP-010",
        start="D-9 09:00",
        duration="3h",
        runbook="MKT-RB 1.5",
        description="Compare the code lists published by Atrias (reason codes, product codes, meter regimes) "
        "with the mapping tables of the migration package. Log every difference as a defect.",
    ),
    step(
        "PP-070",
        "Check AS4 connectivity and certificates towards the CMS",
        "sbennett",
        after="PP-050, PP-060",
        start="D-8 09:00",
        duration="2h",
        runbook="MKT-RB 2.2",
        description="Send an AS4 ping to the CMS endpoint of this environment and check that the signing and "
        "TLS certificates are valid until at least D+60.",
    ),
    step(
        "PP-080",
        "Run data-quality checks on the EAN register",
        "sthiry",
        after="PP-050",
        start="D-8 09:00",
        duration="6h",
        dry_runs="DR2, DR3, LIVE",
        runbook="GRID-RB 1.1",
        description="Run the DQ queries on the EAN register: duplicate EANs, missing addresses, access points "
        "without grid area, inconsistent energy type. Share the findings list with the Grid Data team.",
    ),
    step(
        "PP-090",
        "Correct the EAN register findings",
        "sthiry",
        after="PP-080",
        start="D-5 08:00",
        duration="2d",
        dry_runs="DR2, DR3, LIVE",
        runbook="GRID-RB 1.2",
        description="Correct the blocking findings of PP-080 in the source system. Findings that cannot be "
        "corrected in time are listed with a workaround and signed off by the team leader.",
    ),
    step(
        "PP-100",
        "Run data-quality checks on the metering configuration",
        "fhalleux",
        after="PP-050",
        start="D-8 09:00",
        duration="6h",
        runbook="MET-RB 1.1",
        description="Check meter regimes, register codes and reading frequencies of every metering point "
        "against the MIG 6 rules (for example: smart meters must have a quarter-hourly regime).",
    ),
    step(
        "PP-110",
        "Correct the metering configuration findings",
        "ijacquet",
        after="PP-100",
        start="D-5 08:00",
        duration="1d",
        dry_runs="DR2, DR3, LIVE",
        runbook="MET-RB 1.2",
        description="Correct the blocking findings of PP-100 and re-run the checks on the corrected metering points.",
    ),
    step(
        "PP-120",
        "Clear the supplier switch backlog",
        "nfrancois",
        after="PP-050",
        start="D-5 08:00",
        duration="1d",
        runbook="MKT-RB 3.1",
        description="Process or reject every open UMIG 4 scenario (supplier switch, move-in, move-out) whose "
        "effective date falls before D-day, so that no scenario is open during the freeze.",
    ),
    step(
        "PP-130",
        "Agree the billing freeze with Finance",
        "lrenard",
        after="PP-020",
        duration="1h",
        runbook="BIL-RB 1.1",
        description="Agree with Finance on the last billing cycle before the freeze and on the first cycle "
        "after it; confirm the impact on the grid fee invoicing calendar.",
    ),
    step(
        "PP-140",
        "Run the last regular billing cycle under UMIG 4",
        "emartin",
        after="PP-130",
        start="D-4 08:00",
        duration="1d",
        runbook="BIL-RB 1.2",
        description="Run the grid fee billing cycle and send the invoices. Every invoice must be posted before "
        "the freeze: check that the *pending* queue is empty at the end.",
    ),
    step(
        "PP-150",
        "Confirm the CMS cutover slot and contacts with Atrias",
        "hclarke",
        after="PP-070",
        duration="1h",
        runbook="COM-RB 1.3",
        description="Confirm with the Atrias cutover desk the time at which Resa connects to the CMS and "
        "exchange the names and phone numbers of both cutover managers.",
    ),
    step(
        "PP-160",
        "Rehearse a database restore",
        "okowalski",
        after="PP-050",
        start="D-8 09:00",
        duration="4h",
        dry_runs="DR1, DR2",
        runbook="DBA-RB 2.1",
        description="Restore last week's backup of the market database on a spare server and time it. "
        "The fallback (FB-030) relies on this duration.",
    ),
    step(
        "PP-170",
        "Check disk space and backup capacity for the cutover",
        "okowalski",
        after="PP-160",
        duration="1h",
        runbook="DBA-RB 2.2",
        description="Make sure the backup volumes can hold a full backup of the market, MDM and billing "
        "databases plus 30% margin.",
    ),
    step(
        "PP-180",
        "Package and tag the migration scripts",
        "nfrancois",
        after="PP-060",
        start="D-4 09:00",
        duration="3h",
        runbook="MKT-RB 4.1",
        description="Tag the migration scripts and mapping tables in Git, build the package and record its "
        "checksum in the run log. Only this package may be used during the cut over.",
    ),
    step(
        "PP-190",
        "Mock load of the migration on a data sample",
        "nfrancois",
        after="PP-180",
        duration="4h",
        dry_runs="DR1, DR2",
        runbook="MKT-RB 4.2",
        description="Run the migration package on a 5% sample of the access points and compare the counts "
        "with the source. Stop and log a defect at the first rejected batch.",
    ),
    step(
        "PP-200",
        "Brief the call centre on the cutover weekend",
        "vleclercq",
        after="PP-030",
        start="D-3 10:00",
        duration="2h",
        dry_runs="LIVE",
        runbook="COM-RB 2.2",
        description="Brief the call centre: what customers and suppliers may notice, the script to use, and "
        "who to call in the transition office.",
    ),
    step(
        "PP-210",
        "Start the change freeze on the market systems",
        "bwillems",
        after="PP-020",
        start="D-3 08:00",
        duration="30m",
        runbook="INF-RB 1.1",
        description="Set the change freeze in the ITSM tool for every configuration item of the market "
        "landscape, from now until the hand over.",
    ),
    step(
        "PP-220",
        "Confirm the weekend staffing of every team",
        "tcollard",
        after="PP-020",
        start="D-3 14:00",
        duration="1h",
        runbook="TO-RB 1.3",
        description="Each team leader confirms who works each shift of the weekend and who is their back-up.",
    ),
    step(
        "PP-230",
        "Readiness review: go for the controlled stop",
        "mlambert",
        after="PP-090, PP-110, PP-120, PP-140, PP-150, PP-170, PP-190, PP-200, PP-210, PP-220",
        start="D-2 14:00",
        duration="1h30",
        runbook="TO-RB 1.4",
        description="Review the readiness checklist with the team leaders:\n"
        "- data-quality findings closed or accepted;\n"
        "- last billing cycle posted;\n"
        "- migration package tagged;\n"
        "- weekend staffing confirmed.\n"
        "Record the decision (go / go with reservations / no go) in the minutes.",
    ),
    step(
        "PP-240",
        "Confirm the go to the Atrias cutover desk",
        "hclarke",
        after="PP-230",
        duration="30m",
        runbook="COM-RB 1.4",
        description="Send the readiness decision to the Atrias cutover desk with the planned start of the "
        "controlled stop.",
    ),
    step(
        "PP-250",
        "Open the war room and the bridge call",
        "tcollard",
        after="PP-230",
        start="D-1 16:00",
        duration="1h",
        runbook="TO-RB 1.5",
        description="Book the war room, test the bridge call and the screens, and post the phone list.",
    ),
]

CONTROLLED_STOP: list[Row] = [
    step(
        "AC-010",
        "Announce the start of the controlled stop",
        "tcollard",
        after="PP-240, PP-250",
        start="D-1 18:00",
        duration="15m",
        runbook="TO-RB 2.1",
        description="Announce on the bridge call that the controlled stop starts. From now on no change may be "
        "made in the market systems outside this plan.",
    ),
    step(
        "AC-020",
        "Freeze the billing runs",
        "emartin",
        after="AC-010",
        duration="30m",
        runbook="BIL-RB 2.1",
        description="Put the billing batch chains on hold in the scheduler and check that no billing run is "
        "in progress.",
    ),
    step(
        "AC-030",
        "Stop the meter reading imports",
        "ijacquet",
        after="AC-010",
        duration="30m",
        runbook="MET-RB 2.1",
        description="Stop the import of meter readings (smart meter head-end and manual readings) into the MDM. "
        "Readings received from now on wait in the head-end buffer.",
    ),
    step(
        "AC-040",
        "Close the UMIG 4 inbound channel",
        "cdubois",
        after="AC-010",
        start="D-1 19:00",
        duration="15m",
        runbook="MKT-RB 5.1",
        description="Close the UMIG 4 inbound channel for suppliers; messages sent after this time are rejected "
        "with the agreed *market closed* reason.",
    ),
    step(
        "AC-050",
        "Drain the UMIG 4 message queues",
        "nfrancois",
        after="AC-040",
        duration="2h",
        runbook="MKT-RB 5.2",
        description="Let the gateway process the inbound and outbound UMIG 4 queues until they are empty. "
        "Note the number of messages processed per queue.",
    ),
    step(
        "AC-060",
        "Park the last unprocessed UMIG 4 messages",
        "nfrancois",
        after="AC-050",
        duration="1h",
        runbook="MKT-RB 5.3",
        description="Export the messages still in error to the parking list (CSV on the transition share); "
        "they are re-processed during hypercare (HO-040).",
    ),
    step(
        "AC-070",
        "Stop the market gateway",
        "sbennett",
        after="AC-060",
        duration="30m",
        runbook="MKT-RB 5.4",
        description="Stop the market gateway services in the documented order and check that no process is left.",
    ),
    step(
        "AC-080",
        "Stop the batch scheduler jobs of the market processes",
        "bwillems",
        after="AC-020, AC-030",
        duration="30m",
        runbook="INF-RB 2.1",
        description="Put every market, MDM and billing job of the batch scheduler on hold.",
    ),
    step(
        "AC-090",
        "Put the market applications in maintenance mode",
        "bwillems",
        after="AC-080",
        duration="30m",
        runbook="INF-RB 2.2",
        description="Switch the market portal and the back-office applications to the maintenance page and "
        "close user sessions.",
    ),
    step(
        "AC-100",
        "Checklist: all queues empty, all processes stopped",
        "cdubois",
        after="AC-070, AC-090",
        duration="30m",
        runbook="MKT-RB 5.5",
        description="Walk through the stop checklist with the team leaders and attach the signed checklist.",
    ),
    step(
        "AC-110",
        "Export the EAN register",
        "sthiry",
        after="AC-100",
        duration="1h",
        runbook="GRID-RB 2.1",
        description="Export the frozen EAN register (access points, grid areas, status) as the reference for "
        "the reconciliation (CO-120).",
    ),
    step(
        "AC-120",
        "Export the metering point master data baseline",
        "fhalleux",
        after="AC-100",
        duration="1h30",
        runbook="MET-RB 2.2",
        description="Export metering points, meters and registers with their counts per energy type.",
    ),
    step(
        "AC-130",
        "Export the billing baseline",
        "lrenard",
        after="AC-100",
        duration="1h",
        runbook="BIL-RB 2.2",
        description="Export the open billing items and the totals per supplier as the billing baseline.",
    ),
    step(
        "AC-140",
        "Back up the databases",
        "okowalski",
        after="AC-110, AC-120, AC-130",
        duration="3h",
        runbook="DBA-RB 3.1",
        description="Take a full backup of the market, MDM and billing databases. These backups are the "
        "restore point of the fallback (FB-030).",
    ),
    step(
        "AC-150",
        "Verify the backups and copy them off site",
        "bwillems",
        after="AC-140",
        duration="1h",
        runbook="INF-RB 2.3",
        description="Check the backup logs and checksums, then copy the backups to the second data centre.",
    ),
    step(
        "AC-160",
        "Consolidate the baseline counts",
        "tcollard",
        after="AC-110, AC-120, AC-130",
        duration="30m",
        runbook="TO-RB 2.2",
        description="Collect the counts of the three exports in the reconciliation workbook of this run.",
    ),
    step(
        "AC-170",
        "Confirm the end of the controlled stop to Atrias",
        "hclarke",
        after="AC-150, AC-160",
        duration="15m",
        runbook="COM-RB 1.5",
        description="Tell the Atrias cutover desk that the Resa market systems are stopped and backed up.",
    ),
]

CUT_OVER: list[Row] = [
    step(
        "CO-010",
        "Cut-over briefing",
        "mlambert",
        after="AC-170",
        start="D+0 06:00",
        duration="15m",
        runbook="TO-RB 3.1",
        description="Short briefing on the bridge call: status of the controlled stop, open defects, "
        "planned go/no-go time.",
    ),
    step(
        "CO-020",
        "Deploy the MIG 6 configuration of the market gateway",
        "sbennett",
        after="CO-010",
        duration="1h",
        runbook="MKT-RB 6.1",
        description="Deploy the MIG 6 message definitions, routing rules and partner profiles on the gateway "
        "(gateway stays stopped).",
    ),
    step(
        "CO-030",
        "Migrate the database schemas to the MIG 6 data model",
        "okowalski",
        after="CO-010",
        duration="2h",
        runbook="DBA-RB 4.1",
        description="Run the schema migration scripts of the package tagged in PP-180 and attach the log. "
        "Any error stops the cut over: call the cutover manager.",
    ),
    step(
        "CO-040",
        "Load the MIG 6 code lists",
        "nfrancois",
        after="CO-030",
        duration="45m",
        runbook="MKT-RB 6.2",
        description="Load the Atrias code lists validated in PP-060 and check the row count of every list.",
    ),
    step(
        "CO-050",
        "Migrate the access points (EAN register)",
        "sthiry",
        after="CO-040",
        duration="3h",
        runbook="GRID-RB 3.1",
        description="Migrate the access points to the MIG 6 model (one access point per EAN and energy type) "
        "and keep the list of rejected EANs.",
    ),
    step(
        "CO-060",
        "Migrate the metering point master data",
        "fhalleux",
        after="CO-050",
        duration="4h",
        runbook="MET-RB 3.1",
        description="Migrate metering points, meters and registers, linked to the migrated access points.",
    ),
    step(
        "CO-070",
        "Migrate meter configurations and register mapping",
        "ijacquet",
        after="CO-060",
        duration="2h",
        runbook="MET-RB 3.2",
        description="Map every UMIG 4 register to its MIG 6 register code and meter regime.",
    ),
    step(
        "CO-080",
        "Migrate the historical meter readings",
        "ijacquet",
        after="CO-070",
        duration="6h",
        runbook="MET-RB 3.3",
        description="Load 36 months of validated meter readings. The load runs in batches of 100 000 "
        "readings; restart a failed batch, never the whole load.",
    ),
    step(
        "CO-090",
        "Migrate the connection contracts and market party relations",
        "nfrancois",
        after="CO-050",
        duration="3h",
        runbook="MKT-RB 6.3",
        description="Migrate the connection contracts and the supplier, BRP and ESCO relations of every access point.",
    ),
    step(
        "CO-100",
        "Convert the billing parameters and tariffs",
        "emartin",
        after="CO-040",
        duration="2h",
        runbook="BIL-RB 3.1",
        description="Convert the grid tariffs and billing parameters to the MIG 6 product codes.",
    ),
    step(
        "CO-110",
        "Migrate the open billing items",
        "lrenard",
        after="CO-090, CO-100",
        duration="2h",
        runbook="BIL-RB 3.2",
        description="Migrate the open items of the billing baseline (AC-130) to the new billing structures.",
    ),
    step(
        "CO-120",
        "Reconcile the grid access points",
        "sthiry",
        after="CO-090",
        duration="2h",
        runbook="GRID-RB 3.2",
        description="Compare the migrated access points with the EAN register export (AC-110):\n"
        "- counts per grid area and energy type;\n"
        "- every rejected EAN explained;\n"
        "- no access point without a supplier relation.\n"
        "Sign the reconciliation sheet.",
    ),
    step(
        "CO-130",
        "Reconcile the metering points and meters",
        "fhalleux",
        after="CO-080",
        duration="2h",
        runbook="MET-RB 3.4",
        description="Compare the migrated metering points, meters and readings with the baseline (AC-120).",
    ),
    step(
        "CO-140",
        "Reconcile the billing baseline",
        "lrenard",
        after="CO-110",
        duration="1h30",
        runbook="BIL-RB 3.3",
        description="Compare the migrated open items and totals per supplier with the billing baseline.",
    ),
    step(
        "CO-150",
        "Open the network routes to the CMS endpoint",
        "bwillems",
        after="CO-010",
        start="D+0 14:00",
        duration="1h",
        runbook="INF-RB 4.1",
        description="Apply the firewall and proxy changes that let the gateway reach the CMS endpoint of this "
        "environment.",
    ),
    step(
        "CO-160",
        "Switch the market gateway to the central market system (CMS)",
        "sbennett",
        after="CO-020, CO-120, CO-150",
        duration="1h",
        runbook="MKT-RB 6.4",
        description="Point the gateway's partner profile *Atrias CMS* to the MIG 6 endpoint and disable the "
        "UMIG 4 routes. The gateway stays closed to suppliers.",
    ),
    step(
        "CO-170",
        "Exchange connectivity test messages with the CMS",
        "sbennett",
        after="CO-160",
        duration="30m",
        runbook="MKT-RB 6.5",
        description="Send and receive the agreed test messages with the CMS and check the acknowledgements.",
    ),
    step(
        "CO-180",
        "Initial synchronisation of access points with the CMS",
        "nfrancois",
        after="CO-170",
        duration="4h",
        dry_runs="DR2, DR3, LIVE",
        runbook="MKT-RB 6.6",
        description="Send the initial load of access point data to the CMS and follow the acknowledgements.",
    ),
    step(
        "CO-190",
        "Check the synchronisation report from Atrias",
        "hclarke",
        after="CO-180",
        duration="1h",
        dry_runs="DR2, DR3, LIVE",
        runbook="COM-RB 1.6",
        description="Get the synchronisation report from the Atrias cutover desk and check that the "
        "rejection rate stays below the agreed 0.1%.",
    ),
    step(
        "CO-200",
        "Re-point the billing connectors to the MIG 6 interfaces",
        "emartin",
        after="CO-140",
        duration="1h",
        runbook="BIL-RB 3.4",
        description="Change the billing connectors' configuration to read MIG 6 consumption and switch data.",
    ),
    step(
        "CO-210",
        "Re-point the MDM outbound flows",
        "ijacquet",
        after="CO-130",
        duration="1h",
        runbook="MET-RB 3.5",
        description="Point the meter reading publication flows of the MDM to the MIG 6 gateway queues.",
    ),
    step(
        "CO-220",
        "Technical health check of the migrated services",
        "bwillems",
        after="CO-170, CO-200, CO-210",
        duration="1h",
        runbook="INF-RB 4.2",
        description="Check that every service is up, the logs are clean and the monitoring dashboards are green.",
    ),
    step(
        "CO-230",
        "Consolidate the migration report",
        "tcollard",
        after="CO-130, CO-190, CO-220",
        duration="1h",
        runbook="TO-RB 3.2",
        description="Put together the reconciliation results, the rejected records and the open defects for the "
        "go/no-go meeting.",
    ),
    step(
        "CO-240",
        "Go/no-go decision on the cut over",
        "mlambert",
        after="CO-230",
        start="D+1 08:00",
        duration="1h",
        runbook="TO-RB 3.3",
        kind="gate",
        approvals=2,
        description="Decide with the department heads, on the basis of the migration report:\n"
        "- **go**: continue with the controlled start (DC);\n"
        "- **no go**: run the fallback (FB-RB) and restore UMIG 4.",
    ),
]

FALLBACK: list[Row] = [
    step(
        "FB-010",
        "Announce the fallback",
        "mlambert",
        after="CO-240",
        duration="15m",
        dry_runs=PLAN_RUNS,  # the gate's fallback branch, in every dry run of the plan
        runbook="TO-RB 9.1",
        description="Announce the no-go on the bridge call and to the Atrias cutover desk; the fallback starts now.",
    ),
    step(
        "FB-020",
        "Switch the market gateway back to the UMIG 4 routes",
        "sbennett",
        after="FB-010",
        duration="1h",
        dry_runs="DR2, LIVE",
        runbook="MKT-RB 9.1",
        description="Re-deploy the UMIG 4 configuration of the gateway and disable the CMS partner profile.",
    ),
    step(
        "FB-030",
        "Restore the databases from the controlled-stop backups",
        "okowalski",
        after="FB-010",
        duration="4h",
        dry_runs="DR2, LIVE",
        runbook="DBA-RB 9.1",
        description="Restore the market, MDM and billing databases from the backups of AC-140.",
    ),
    step(
        "FB-040",
        "Verify the restored data against the baseline",
        "tcollard",
        after="FB-030",
        duration="1h",
        dry_runs="DR2, LIVE",
        runbook="TO-RB 9.2",
        description="Compare the restored counts with the baseline counts of AC-160.",
    ),
    step(
        "FB-050",
        "Re-open the UMIG 4 queues and restart the batch scheduler",
        "bwillems",
        after="FB-020, FB-040",
        duration="1h",
        dry_runs="DR2, LIVE",
        runbook="INF-RB 9.1",
        description="Start the gateway on UMIG 4, open the inbound channel and release the scheduler jobs.",
    ),
    step(
        "FB-060",
        "Resume the billing runs on UMIG 4",
        "emartin",
        after="FB-050",
        duration="30m",
        dry_runs="DR2, LIVE",
        runbook="BIL-RB 9.1",
        description="Release the billing batch chains put on hold in AC-020.",
    ),
    step(
        "FB-070",
        "Inform the suppliers of the fallback",
        "vleclercq",
        after="FB-050",
        duration="30m",
        dry_runs="LIVE",
        runbook="COM-RB 9.1",
        description="Tell suppliers and BRPs that the market stays on UMIG 4 and when the cutover is re-planned.",
    ),
    step(
        "FB-080",
        "Sign off the fallback",
        "mlambert",
        after="FB-060, FB-070",
        duration="30m",
        dry_runs="DR2, LIVE",
        runbook="TO-RB 9.3",
        description="Confirm that UMIG 4 runs as before the controlled stop and close the run.",
    ),
]

CONTROLLED_START: list[Row] = [
    step(
        "DC-010",
        "Start the market gateway on MIG 6",
        "sbennett",
        after="CO-240",
        start="D+1 10:00",
        duration="30m",
        runbook="MKT-RB 7.1",
        description="Start the gateway services in production mode, still closed to suppliers.",
    ),
    step(
        "DC-020",
        "Restart the batch scheduler jobs of the market processes",
        "bwillems",
        after="DC-010",
        duration="30m",
        runbook="INF-RB 5.1",
        description="Release the market, MDM and billing jobs held in AC-080, except the billing runs.",
    ),
    step(
        "DC-030",
        "Restart the meter reading imports",
        "ijacquet",
        after="DC-020",
        duration="30m",
        runbook="MET-RB 4.1",
        description="Restart the imports stopped in AC-030; the head-end buffer is processed first.",
    ),
    step(
        "DC-040",
        "Re-open the market applications to users",
        "bwillems",
        after="DC-020",
        duration="15m",
        runbook="INF-RB 5.2",
        description="Remove the maintenance page and re-open the back-office applications.",
    ),
    step(
        "DC-050",
        "Open the MIG 6 inbound channel to suppliers",
        "cdubois",
        after="DC-010",
        start="D+1 12:00",
        duration="15m",
        runbook="MKT-RB 7.2",
        description="Open the inbound channel; from now on suppliers send MIG 6 messages through the CMS.",
    ),
    step(
        "DC-060",
        "Smoke test: supplier switch end to end",
        "nfrancois",
        after="DC-050",
        duration="1h30",
        runbook="MKT-RB 7.3",
        description="Run a supplier switch on a test EAN from the CMS request to the confirmation and the "
        "update of the access point.",
    ),
    step(
        "DC-070",
        "Smoke test: meter reading publication to the CMS",
        "ijacquet",
        after="DC-030, DC-050",
        duration="1h",
        runbook="MET-RB 4.2",
        description="Publish the readings of three test metering points and check the CMS acknowledgements.",
    ),
    step(
        "DC-080",
        "Smoke test: grid fee invoice on sample EANs",
        "emartin",
        after="DC-040",
        duration="1h",
        runbook="BIL-RB 4.1",
        description="Compute a grid fee invoice for the sample EANs (residential, SME, smart meter) in "
        "simulation mode and compare it with the UMIG 4 result.",
    ),
    step(
        "DC-090",
        "Business acceptance on the sample EAN set",
        "vleclercq",
        after="DC-060, DC-070, DC-080",
        duration="2h",
        runbook="COM-RB 3.1",
        description="The business key users check the sample EAN set in the back-office screens and sign the "
        "acceptance form.",
    ),
    step(
        "DC-100",
        "Unfreeze the billing runs",
        "lrenard",
        after="DC-090",
        duration="30m",
        runbook="BIL-RB 4.2",
        description="Release the billing batch chains held in AC-020.",
    ),
    step(
        "DC-110",
        "Monitor the first message exchanges with the CMS",
        "cdubois",
        after="DC-060",
        duration="4h",
        runbook="MKT-RB 7.4",
        description="Follow the rejection rate and the response times of the first MIG 6 exchanges; "
        "raise a defect above 1% rejections.",
    ),
    step(
        "DC-120",
        "Tell suppliers the market systems are open",
        "vleclercq",
        after="DC-090",
        duration="30m",
        dry_runs="LIVE",
        runbook="COM-RB 3.2",
        description="Send the *systems open* notice to suppliers and BRPs and update the website banner.",
    ),
    step(
        "DC-130",
        "Controlled start complete",
        "tcollard",
        after="DC-100, DC-110, DC-120",
        duration="15m",
        runbook="TO-RB 4.1",
        description="Confirm on the bridge call that the controlled start is complete and close the war room.",
    ),
]

HAND_OVER: list[Row] = [
    step(
        "HO-010",
        "Start hypercare: first daily triage call",
        "mlambert",
        after="DC-130",
        start="D+2 08:30",
        duration="30m",
        runbook="TO-RB 5.1",
        description="First hypercare triage call: review the defects of the weekend, assign owners and "
        "priorities.",
    ),
    step(
        "HO-020",
        "Monitor the market message KPIs",
        "cdubois",
        after="HO-010",
        duration="8h",
        runbook="MKT-RB 8.1",
        description="Follow rejections, time-outs and response times per message type during the first "
        "business day on MIG 6.",
    ),
    step(
        "HO-030",
        "First billing run on MIG 6 data",
        "lrenard",
        after="HO-010",
        start="D+2 09:00",
        duration="6h",
        runbook="BIL-RB 5.1",
        description="Run the first real billing cycle on migrated data and check a sample of 50 invoices.",
    ),
    step(
        "HO-040",
        "Re-process the parked UMIG 4 messages",
        "nfrancois",
        after="HO-010",
        duration="6h",
        runbook="MKT-RB 8.2",
        description="Re-process or close every message of the parking list of AC-060, with the agreed "
        "MIG 6 equivalent.",
    ),
    step(
        "HO-050",
        "Transfer the open defects to the run organisation",
        "tcollard",
        after="HO-020, HO-030, HO-040",
        start="D+3 09:00",
        duration="2h",
        runbook="TO-RB 5.2",
        description="Move the open defects to the ITSM queues of the run teams, with an owner and a due date.",
    ),
    step(
        "HO-060",
        "Decommission the UMIG 4 routes",
        "bwillems",
        after="HO-050",
        duration="2h",
        dry_runs="LIVE",
        runbook="INF-RB 6.1",
        description="Remove the UMIG 4 routes and partner profiles from the gateway and close the old firewall rules.",
    ),
    step(
        "HO-070",
        "Lessons learned for the next dry run",
        "mlambert",
        after="HO-050",
        start="D+3 13:00",
        duration="1h30",
        dry_runs="DR1, DR2, DR3",
        runbook="TO-RB 5.3",
        description="Review the timings, defects and plan changes of this dry run with the team leaders and "
        "update the workbook for the next one.",
    ),
    step(
        "HO-080",
        "Hand over to operations and sign off",
        "pgilson",
        after="HO-050, HO-060, HO-070",
        start="D+3 15:00",
        duration="1h",
        runbook="TO-RB 5.4",
        description="The department heads sign the hand-over document: the market systems on MIG 6 are now "
        "run by the operations teams.",
    ),
]

# DEMO: owned by the first three actors (the logins make run prints), a few minutes each.
DEMO: list[Row] = [
    step(
        "PP-901",
        "Demo: announce the rehearsal",
        "mlambert",
        duration="2m",
        dry_runs="DEMO",
        description="Start it, then close it: the next step asks its owner at once. Left open "
        "past its two minutes, it is **Late** and its owner hears of it.",
    ),
    step(
        "PP-902",
        "Demo: freeze the test market data",
        "pgilson",
        after="PP-901",
        duration="3m",
        dry_runs="DEMO",
        description="Asks when PP-901 is closed. Try a transfer or a defect on it from the recap page.",
    ),
    step(
        "CO-901",
        "Demo: switch the test gateway",
        "ahenrard",
        after="PP-902",
        duration="3m",
        dry_runs="DEMO",
        description="Owned by another person: log in as them to start it.",
    ),
    step(
        "CO-903",
        "Demo: export the test register",
        "ahenrard",
        after="CO-901",
        duration="2m",
        dry_runs="DEMO",
        kind="auto",
        action="export_register(region=LIEGE)",
        description="Runs by itself (the action export_register of plan/actions.yaml): nobody is "
        "asked unless it fails; then its owner may Retry it or do it by hand.",
    ),
    step(
        "CO-904",
        "Demo: count the exported register",
        "pgilson",
        after="CO-903",
        duration="2m",
        dry_runs="DEMO",
        kind="check",
        action="count_register",
        expect=">= 1000",
        description="A check: it counts the register's lines and passes at 1,000 or more; the "
        "recap shows the value.",
    ),
    step(
        "CO-905",
        "Demo: load the register into MIG 6",
        "ahenrard",
        after="CO-904",
        duration="2m",
        dry_runs="DEMO",
        kind="auto",
        action="load_register(region=LIEGE)",
        description="Runs SQL by itself (the action load_register): make run's demo database, on "
        "its embedded PostgreSQL, gets the region's EANs in the new system's table.",
    ),
    step(
        "CO-906",
        "Demo: count the EANs loaded",
        "pgilson",
        after="CO-905",
        duration="2m",
        dry_runs="DEMO",
        kind="check",
        action="count_loaded(region=LIEGE)",
        expect="between 99.5% and 100.5% of CO-904",
        description="A SQL check: the EANs loaded must match the exported register's count "
        "(CO-904's value) within 0.5%.",
    ),
    step(
        "CO-902",
        "Demo: check the switch",
        "pgilson",
        after="CO-906",
        duration="2m",
        dry_runs="DEMO",
        description="Close it with a comment: the recap page and the results show it.",
    ),
    step(
        "HO-901",
        "Demo: hand over",
        "mlambert",
        after="CO-902",
        duration="2m",
        dry_runs="DEMO",
        description="The last step: once it is closed, the dry run ends.",
    ),
]

# Plan order: each phase after the one before; the fallback branch, then DEMO, close the sheet.
STEPS: list[Row] = (
    PREPARATION + CONTROLLED_STOP + CUT_OVER + CONTROLLED_START + HAND_OVER + FALLBACK + DEMO
)

INSTRUCTIONS: list[str] = [
    "Resa: transition plan UMIG 4 → MIG 6 (Atrias) — sample plan",
    "One row of the Steps sheet is one step-action. Prerequisites are step IDs; Start is a not-before time "
    "relative to the D-day of each dry run (D-1 18:00, D+0 06:00, ...), in Europe/Brussels time.",
    "Dry runs: ALL, or a list such as 'DR2, DR3, LIVE'. The fallback (FB-RB) only runs after a no-go at CO-240. "
    "DEMO is a short dry run to try the tool: trigger it and its first step asks at once.",
    "Owners are actor IDs from the Actors sheet. 'Runbook ref' is an extra column, shown to the owner.",
    "Check the plan with: transition validate plan/config.yaml",
]


def sample_mark(dry_runs: list[Row]) -> str:
    """The workbook's Keywords: it is the sample, with these D-days. ``make run`` dates a copy of it
    from the day it starts while the D-days are still these (transition.local.sample_dates)."""
    return " ".join(
        ["transition-sample-plan"] + [f"{r['name']}={r['d_day'].isoformat()}" for r in dry_runs]
    )


def main(argv: list[str] | None = None) -> int:
    """Write the workbook to OUT (first argument) or to the default path."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else DEFAULT_OUT
    path = write_plan_workbook(
        out,
        steps=STEPS,
        actors=ACTORS,
        dry_runs=DRY_RUNS,
        environments=ENVIRONMENTS,
        instructions=INSTRUCTIONS,
        keywords=sample_mark(DRY_RUNS),
    )
    print(
        f"Wrote {path}: {len(STEPS)} step-actions, {len(ACTORS)} actors, {len(DRY_RUNS)} dry runs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
