//! The job lists (400115 / 400135, `POST /job/_search`): fixtures, routes, codes and columns.

use super::*;

#[test]
fn the_json_job_list_fixture_gives_job_ids_states_names_ctids_and_the_total() -> Result<()> {
    let env: Envelope<ObjectJob> =
        json::decode_response("CertificateJobList", 200, &fixture("job-list.json")?)?;
    assert!(!env.is_error());
    assert_eq!(
        env.summary(),
        Some(3),
        "object.summary is the total, not the page"
    );
    assert_eq!(env.data.len(), 2);
    let running = &env.data[0];
    assert_eq!(running.job_id(), Some(4309872209));
    assert_eq!(running.status(), Some(&JobStatus::Running));
    assert_eq!(
        running.ctid(),
        Some("smp-anna-g1-7f3a"),
        "ctid from job.events[]"
    );
    assert_eq!(running.object_name(), Some("anna@example.org"));
    assert_eq!(running.certificate_id(), Some(1658050));
    assert_eq!(
        running.created(),
        zoned("2026-11-28T10:00:01.000+0100").as_ref()
    );
    let deferred = &env.data[1];
    assert_eq!(
        deferred.job_id(),
        Some(4309872100),
        "a string id is read too"
    );
    assert_eq!(deferred.status(), Some(&JobStatus::Deferred), "DEFFERED");
    assert_eq!(deferred.ctid(), None);
    assert_eq!(deferred.object_name(), Some("bob@example.org"));
    assert_eq!(deferred.certificate_id(), None);
    Ok(())
}

#[test]
fn the_xml_job_list_fixture_reads_the_manuals_shape_with_the_name_inside_the_job() -> Result<()> {
    let env: Envelope<ObjectJob> = xml::decode_response(
        "CertificateJobList",
        200,
        &fixture("xml-job-list.response.xml")?,
    )?;
    assert!(!env.is_error());
    assert_eq!(
        env.status.as_ref().and_then(|s| s.code.as_deref()),
        Some("S400115")
    );
    assert_eq!(env.summary(), Some(2));
    assert_eq!(env.stid.as_deref(), Some("20261128-app2-dev-31416"));
    let first = env.data.first().context("first job")?;
    assert_eq!(first.job_id(), Some(4309872209));
    assert_eq!(first.status(), Some(&JobStatus::Deferred), "DEFFERED");
    assert_eq!(first.ctid(), Some("smp-anna-g1-7f3a"));
    assert_eq!(first.object_name(), Some("anna@example.org"));
    assert_eq!(first.created(), naive("2026-11-28 10:00:01").as_ref());
    assert_eq!(
        first.job.as_ref().and_then(|j| j.sub_status.as_deref()),
        Some("WF_EMAIL_AUTH")
    );
    let second = env.data.get(1).context("second job")?;
    assert_eq!(second.job_id(), Some(4309872100));
    assert_eq!(second.status(), Some(&JobStatus::Running));
    assert_eq!(second.ctid(), None);
    assert_eq!(second.object_name(), Some("bob@example.org"));
    Ok(())
}

#[test]
fn the_xml_job_list_request_fixture_decodes_into_a_paged_search_by_name() -> Result<()> {
    let (auth, req) = xml::decode_request(&template_with_context("xml-job-list.request.xml")?)
        .map_err(anyhow::Error::msg)?;
    assert_eq!(auth.context, 9);
    assert_eq!(
        req.task,
        Task::JobList(Query::equal("object", "anna@example.org").page(100, 0))
    );
    assert_eq!(req.task.xml_code(), Some("400115"));
    assert!(req.task.is_idempotent(), "a search may be retried");
    Ok(())
}

#[test]
fn job_searches_use_the_documented_routes_and_codes_and_ask_for_the_name_column() -> Result<()> {
    let q = Query::equal("object", "anna@example.org").page(100, 300);
    let active = json::encode_request(&Task::JobList(q.clone()))?;
    assert_eq!(
        (active.method, active.path.as_str()),
        (Method::Post, "job/_search")
    );
    assert!(active
        .query
        .contains(&("keys[]".to_string(), "object".to_string())));
    let body: serde_json::Value =
        serde_json::from_slice(active.body.as_deref().unwrap_or_default())?;
    assert_eq!(
        body,
        json!({"filters": [{"key": "object", "value": "anna@example.org", "operator": "EQUAL"}],
               "view": {"limit": 100, "offset": 300}})
    );
    let history = json::encode_request(&Task::JobHistoryList(q.clone()))?;
    assert_eq!(
        (history.method, history.path.as_str()),
        (Method::Post, "job/history/_search")
    );
    assert_eq!(Task::JobHistoryList(q).xml_code(), Some("400135"));
    Ok(())
}

#[test]
fn a_job_without_a_ctid_of_its_own_takes_the_first_event_ctid_and_blank_ones_do_not_count() {
    let mut j = Job {
        events: vec![
            WorkflowEvent {
                ctid: Some("  ".into()),
                ..Default::default()
            },
            WorkflowEvent {
                ctid: Some("smp-1".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    assert_eq!(
        j.ctid(),
        Some("smp-1"),
        "the blank ctid of the first event is skipped"
    );
    j.events.remove(1);
    assert_eq!(j.ctid(), None, "a blank ctid is no ctid");
    j.ctid = Some("own".into());
    assert_eq!(j.ctid(), Some("own"), "the job's own ctid wins");
}
