// The editor page: mounts the stock Scratch GUI (the global `GUI` of
// scratch-gui-standalone.js) on cubby's own routes with a custom GUIStorage.
// docs/SCRATCH.md ("cubby's editor page") explains each part.
(function () {
  const cfg = window.CUBBY;
  const origin = location.origin;
  const scratchStorage = new GUI.ScratchStorage();
  const {AssetType, DataFormat} = scratchStorage;
  GUI.buildDefaultProject().forEach(a => scratchStorage.builtinHelper._store(
      AssetType[a.assetType], DataFormat[a.dataFormat], a.data, a.id));
  let projectHost = origin + '/projects';
  let assetHost = origin + '/assets';
  scratchStorage.addWebStore([AssetType.Project],
      a => projectHost + '/' + a.assetId,
      () => ({url: projectHost + '/', withCredentials: true}),
      a => ({url: projectHost + '/' + a.assetId, withCredentials: true}));
  const assetCreate = a => ({method: 'post', url: assetHost + '/' + a.assetId + '.' + a.dataFormat, withCredentials: true});
  scratchStorage.addWebStore([AssetType.ImageVector, AssetType.ImageBitmap, AssetType.Sound],
      a => assetHost + '/internalapi/asset/' + a.assetId + '.' + a.dataFormat + '/get/', assetCreate, assetCreate);
  // The session cookie authenticates (same origin); the empty token header
  // counts as absent on the server.
  const backpackStorage = new GUI.LegacyBackpackStorage({
      readAuth: async () => ({username: cfg.username, authType: 'x-token', authToken: ''})
  });

  // --- Which version the page holds -------------------------------------
  // Every save of an existing project carries the version of the body this
  // page holds (`?version=`), so a save from a stale tab is refused (409)
  // instead of burying work the student has not seen. The server names the
  // version of each body it sends or stores in `ETag: "<version>"`; the JSON
  // bodies stay exactly what the stock editor expects.
  const versions = new Map();   // project id → version of the body we hold
  const titles = new Map();     // project id → its title on cubby
  const savesTo = new Map();    // id the GUI knows → the conflict copy saves go to now
  if (cfg.title !== null && cfg.title !== undefined) titles.set(cfg.projectId, cfg.title);
  const target = id => savesTo.get(String(id)) || String(id);
  // Only the owner saves; anyone else who may read the project may Remix
  // it (and owns the remix). A page for a submission is read-only.
  let mine = cfg.own !== false;
  const readOnly = () => cfg.readOnly === true;
  const maySave = () => mine && !readOnly();
  // A rename waiting to go out with the next save.
  let pendingTitle = null;
  const editorUrl = id => '/editor?project=' + encodeURIComponent(id);

  function versionOf (response, fallback) {
    const m = /^(?:W\/)?"(\d+)"$/.exec(response.headers.get('ETag') || '');
    return m ? Number(m[1]) : fallback;
  }

  function knownVersion (id) {
    if (versions.has(id)) return versions.get(id);
    // Only if the load gave no ETag: the version when the page was rendered
    // (a save in between would then make a needless, but harmless, copy).
    if (id === cfg.projectId && cfg.version !== null && cfg.version !== undefined) return cfg.version;
    return undefined;
  }

  // Project loads go through this helper (before the plain web store) so the
  // version is read from the very response that delivered the body: a
  // version remembered from the page's rendering could be older than the
  // body if a save landed in between. The default project (id 0) is served
  // by the built-in helper, which comes first.
  scratchStorage.addHelper({
    load (assetType, assetId) {
      if (assetType !== AssetType.Project) return null; // null: the next helper
      return fetch(projectHost + '/' + assetId, {credentials: 'same-origin'}).then(async r => {
        if (r.status === 404) return null; // the GUI says "could not find project"
        if (!r.ok) throw r.status;         // the web store tries again
        const data = new Uint8Array(await r.arrayBuffer());
        const version = versionOf(r, undefined);
        if (version !== undefined) versions.set(String(assetId), version);
        return scratchStorage.createAsset(AssetType.Project, DataFormat.JSON, data, String(assetId), false);
      });
    }
  }, 0);

  const jsonSend = (method, url, body) => fetch(url, {method, body, credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'}});

  // A create (also a copy or remix): exactly 200 and the new id in
  // `content-name`; a new project is version 1.
  async function create (query, json) {
    const r = await jsonSend('POST', projectHost + '/' + query, json);
    if (r.status !== 200) throw r.status;
    const body = await r.json();
    const id = String(body['content-name']);
    versions.set(id, versionOf(r, 1));
    if (typeof body['content-title'] === 'string') {
      titles.set(id, body['content-title']);
      savedTitle.set(id, body['content-title']);
    }
    return {body, id};
  }

  // The save was stale: another tab or device saved after this page loaded.
  // The student's work becomes a new project (a copy, so its parent is
  // recorded), later saves go there, and the page says so. The save itself
  // succeeds, so the GUI shows no error.
  async function saveConflictCopy (guiId, stale, json) {
    const title = (titles.get(stale) || 'Untitled') + ' (conflict copy)';
    const query = '?' + new URLSearchParams({is_copy: '1', original_id: stale, title});
    const {body, id} = await create(query, json);
    savesTo.set(String(guiId), id);
    titles.set(id, title);
    history.replaceState(null, '', editorUrl(id));
    showConflictNotice(stale, id, title);
    // The title field shows the copy's title (same project id for the GUI:
    // re-rendering with it does not reload anything).
    render({projectTitle: title});
    // The GUI keeps its own id; `target` maps it to the copy.
    return Object.assign(body, {id: guiId});
  }

  async function save (id, json, params) {
    // Defensive: a read-only page (a submission) never writes, whatever
    // the GUI asks for.
    if (readOnly()) throw new Error('cubby: this page is read-only');
    const qs = new URLSearchParams();
    if ('originalId' in params) qs.set('original_id', params.originalId);
    if ('isCopy' in params) qs.set('is_copy', params.isCopy);
    if ('isRemix' in params) qs.set('is_remix', params.isRemix);
    if ('title' in params) qs.set('title', params.title);
    if (id === null || id === undefined) {
      const remix = String(params.isRemix) === '1';
      // The remix is named as one, so the student tells it from the original.
      if (remix && qs.has('title')) qs.set('title', cleanTitle(qs.get('title') + ' remix'));
      // original_id may name a project the GUI knows by an old id.
      if (qs.has('original_id')) qs.set('original_id', target(qs.get('original_id')));
      const created = await create(qs.toString() ? '?' + qs : '', json);
      history.replaceState(null, '', editorUrl(created.id));
      pendingTitle = null;
      if (remix) becomeOwner();
      // The title field shows cubby's title for the new project (a new
      // one is "Untitled" on cubby, not the GUI's "Scratch Project").
      if (titles.has(created.id)) render({projectTitle: titles.get(created.id)});
      saveSucceeded();
      return Object.assign(created.body, {id: created.id});
    }
    if (!mine) throw new Error('cubby: only the owner saves this project (use Remix)');
    const to = target(id);
    const version = knownVersion(to);
    if (version !== undefined) qs.set('version', version);
    // A rename rides with the body: one save, one version, and the same
    // conflict rule for both.
    const title = pendingTitle;
    if (title !== null) qs.set('title', title);
    const r = await jsonSend('PUT', projectHost + '/' + to + (qs.toString() ? '?' + qs : ''), json);
    if (r.status === 409) {
      const copied = await saveConflictCopy(id, to, json);
      if (pendingTitle === title) pendingTitle = null; // the copy carries it
      saveSucceeded();
      return copied;
    }
    if (r.status !== 200) throw r.status;
    const body = await r.json();
    versions.set(to, versionOf(r, body.version));
    if (title !== null) {
      savedTitle.set(to, title);
      if (pendingTitle === title) pendingTitle = null;
    }
    saveSucceeded();
    return Object.assign(body, {id});
  }

  // One save at a time: each one needs the version the one before it made
  // (autosave and "Save now" could otherwise overlap and the second would
  // look stale).
  let saving = Promise.resolve();
  function saveProject (id, json, params) {
    const run = saving.then(() => save(id, json, params || {}));
    saving = run.catch(() => {});
    return run;
  }

  // --- Title ----------------------------------------------------------------
  // cubby's rule for a title: trimmed, no control characters, at most 200
  // characters (blank: keep the old one).
  function cleanTitle (raw) {
    const t = Array.from(String(raw || '').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim());
    return t.slice(0, 200).join('').trim();
  }

  // The GUI calls this when the student renames the project in its title
  // field. The new title goes out with the next save, which is asked for
  // at once (a rename is one deliberate act, not a burst of edits).
  function onUpdateProjectTitle (raw) {
    const id = target(guiId);
    const title = cleanTitle(raw);
    if (!title || !maySave()) {
      // Blank, or not ours to rename: the field shows the title again.
      render({projectTitle: titles.get(id) || props.projectTitle || ''});
      return;
    }
    titles.set(id, title);
    props.projectTitle = title; // the GUI already shows it
    if (title === savedTitle.get(id)) return;
    pendingTitle = title;
    autosave.soon(true);
  }
  const savedTitle = new Map(titles); // project id → the title cubby has

  // --- Autosave, the save status and the unsaved-changes guard -------------
  // The GUI keeps a "project changed" flag in its store and saves through
  // its own pipeline (changed costumes and sounds first, then the project
  // through saveProject above). The page drives that pipeline: it asks for
  // a save at most every `autosaveMs` while the project keeps changing, at
  // once when the tab is hidden, and again with a growing pause after a
  // failed save; it shows what happened; and it warns before the page is
  // left with work not saved. Every save goes through saveProject, so the
  // conflict rule above holds for all of them.
  const BUSY = new Set(['AUTO_UPDATING', 'MANUAL_UPDATING', 'CREATING_NEW', 'CREATING_COPY',
    'REMIXING', 'UPDATING_BEFORE_COPY', 'UPDATING_BEFORE_NEW']);
  let attemptOk = false; // set by saveProject when the current save landed
  function saveSucceeded () { attemptOk = true; }

  const autosave = (function () {
    const every = Number(cfg.autosaveMs) > 0 ? Number(cfg.autosaveMs) : 30000;
    const statusEl = document.getElementById('cubby-save-status');
    let lastStart = Date.now(); // the first save waits as if one just ran
    let timer = null;
    let failures = 0;
    let urgent = false;          // save as soon as possible (tab hidden, rename, leaving)
    let busy = false;
    let changedWhileBusy = false;
    let leaving = null;          // where to go once saved (the home link)
    let shown = null;

    const gui = () => editorState.store.getState().scratchGui;
    const changed = () => gui().projectChanged === true || pendingTitle !== null;
    const idle = () => gui().projectState.loadingState === 'SHOWING_WITH_ID';
    const unsaved = () => changed() || busy;

    function status () {
      let text = '';
      let tag = '';
      if (!maySave()) {
        text = '';
      } else if (busy) {
        text = 'Saving…'; tag = 'saving';
      } else if (changed() && failures > 0) {
        text = 'Not saved — retrying'; tag = 'failed';
      } else if (changed()) {
        text = 'Unsaved changes'; tag = 'unsaved';
      } else if (String(guiId) !== '0') {
        text = 'Saved'; tag = 'saved';
      }
      if (!statusEl || text === shown) return;
      shown = text;
      statusEl.textContent = text;
      statusEl.dataset.state = tag;
    }

    function clear () {
      clearTimeout(timer);
      timer = null;
    }

    // When the next save may start: at once when urgent; after a failure a
    // pause that doubles (from 2 s, at most 5 minutes); otherwise `every`
    // after the last save began.
    function delay () {
      if (urgent) return 0;
      if (failures > 0) return Math.min(Math.min(every, 2000) * 2 ** (failures - 1), 300000);
      return Math.max(0, lastStart + every - Date.now());
    }

    function soon (now) {
      if (now) urgent = true;
      if (!maySave() || !changed() || busy) return status();
      if (now) clear();
      if (timer === null) timer = setTimeout(fire, delay());
      status();
    }

    function fire () {
      timer = null;
      if (!maySave() || !changed()) return status();
      if (busy || !idle()) return; // the end of what runs now reschedules
      urgent = false;
      // The GUI's own autosave: the pipeline saves assets, then the project.
      editorState.dispatch({type: 'scratch-gui/project-state/START_AUTO_UPDATING'});
    }

    function onStore () {
      const nowBusy = BUSY.has(gui().projectState.loadingState);
      if (nowBusy && !busy) {
        busy = true;
        attemptOk = false;
        changedWhileBusy = false;
        lastStart = Date.now();
        clear();
      } else if (!nowBusy && busy) {
        busy = false;
        finished(attemptOk);
      }
      if (!busy && changed() && timer === null) soon(false);
      status();
    }

    // The GUI marks the project unchanged when a save lands, even if the
    // student changed it while the save was under way, and also when a
    // save fails; the page marks it changed again in both cases.
    const markChanged = () => editorState.dispatch(
        {type: 'scratch-gui/project-changed/SET_PROJECT_CHANGED', changed: true});

    function finished (ok) {
      if (ok) {
        failures = 0;
        if (changedWhileBusy) markChanged();
        if (leaving && !changed()) location.assign(leaving);
      } else {
        failures += 1;
        leaving = null;
        if (idle()) markChanged();
        console.warn('cubby: save failed; retry ' + failures + ' in ' + delay() + ' ms');
      }
      if (changed()) soon(false);
    }

    return {
      soon,
      start () {
        editorState.store.subscribe(onStore);
        const vm = gui().vm;
        if (vm && vm.on) vm.on('PROJECT_CHANGED', () => { if (busy) changedWhileBusy = true; });
        document.addEventListener('visibilitychange', () => {
          if (document.visibilityState === 'hidden') soon(true);
        });
        window.addEventListener('pagehide', () => soon(true));
        window.addEventListener('beforeunload', e => {
          if (unsaved() && !readOnly()) {
            soon(true);
            e.preventDefault();
            e.returnValue = ''; // older browsers need a value to ask
          }
        });
        const home = document.getElementById('cubby-home');
        if (home) {
          home.addEventListener('click', e => {
            // Save first, then go (a failed save leaves the student here,
            // and the guard asks before anything is lost).
            if (maySave() && unsaved()) {
              e.preventDefault();
              leaving = home.href;
              soon(true);
            }
          });
        }
        status();
      },
      status
    };
  })();

  // After a remix the student owns the project on screen.
  function becomeOwner () {
    mine = true;
    const note = document.getElementById('cubby-owner');
    if (note) note.remove();
    render({canSave: maySave(), canCreateNew: maySave(), canCreateCopy: maySave(),
      canEditTitle: maySave(), canRemix: false});
  }

  // --- The notice after a conflict copy ---------------------------------
  function showConflictNotice (original, copy, title) {
    const old = document.getElementById('cubby-conflict');
    if (old) old.remove();
    const notice = document.createElement('div');
    notice.id = 'cubby-conflict';
    notice.setAttribute('role', 'alert');
    const link = (href, text) => {
      const a = document.createElement('a');
      a.href = href;
      a.textContent = text;
      return a;
    };
    const close = document.createElement('button');
    close.type = 'button';
    close.textContent = 'Close';
    close.addEventListener('click', () => notice.remove());
    // Text nodes only (textContent): a title can hold anything.
    notice.append(
      'This project was saved somewhere else (another tab or device) after you opened it. ',
      'Your work was saved as a new project, “' + title + '”, so nothing was overwritten. ',
      link(editorUrl(original), 'Open the other version'), ' · ',
      link(editorUrl(copy), 'Open your copy (this page)'), ' ', close);
    document.body.prepend(notice);
  }

  // --- Thumbnails ---------------------------------------------------------
  // After each successful save the GUI calls saveProjectThumbnail(id, png)
  // with a snapshot of the stage. Saves come in bursts (autosave, "Save now",
  // a conflict copy), so the upload waits until 2 s after the last one and
  // sends only the newest snapshot. A failed upload loses nothing the student
  // made, so it is logged, not shown.
  const THUMBNAIL_DELAY_MS = 2000;
  let thumbnail = null;
  let thumbnailTimer = null;
  async function uploadThumbnail () {
    const {id, data, onDone, onError} = thumbnail;
    thumbnail = null;
    try {
      const png = typeof data === 'string' ? await (await fetch(data)).blob() : data;
      const r = await fetch('/internalapi/project/thumbnail/' + encodeURIComponent(target(id)) + '/set/',
          {method: 'POST', body: png, credentials: 'same-origin', headers: {'Content-Type': 'image/png'}});
      if (!r.ok) throw new Error('thumbnail upload answered ' + r.status);
      if (onDone) onDone();
    } catch (e) {
      console.warn('cubby: ' + e);
      if (onError) onError(e);
    }
  }
  function saveProjectThumbnail (id, data, onDone, onError) {
    thumbnail = {id, data, onDone, onError};
    clearTimeout(thumbnailTimer);
    thumbnailTimer = setTimeout(uploadThumbnail, THUMBNAIL_DELAY_MS);
  }

  const storage = {
    scratchStorage, backpackStorage, saveProject, saveProjectThumbnail,
    setProjectHost (h) { projectHost = h; },
    setAssetHost (h) { assetHost = h; },
    setBackpackHost (h) { backpackStorage.setHostAndRegisterWebStore(h, scratchStorage); },
    getLibraryAssetUrl (id, fmt) { return assetHost + '/internalapi/asset/' + id + '.' + fmt + '/get/'; }
  };
  const el = document.getElementById('app');
  GUI.setAppElement(el);
  const editorState = new GUI.EditorState({locale: 'en'}, () => ({storage}));
  let guiId = cfg.projectId; // the id the GUI knows the project by
  const props = {
    projectHost: origin + '/projects', assetHost: origin + '/assets',
    backpackHost: origin + '/backpack', backpackVisible: true,
    // Saving is the owner's; "Remix" is for everyone else.
    canSave: maySave(), canCreateNew: maySave(), canCreateCopy: maySave(),
    canRemix: !mine && !readOnly(), canEditTitle: maySave(),
    // The GUI's own timer, as a fallback to the page's (the first to fire
    // saves; each save clears the other's wait).
    autoSaveIntervalSecs: Math.max(1, Math.round((Number(cfg.autosaveMs) || 30000) / 1000)),
    projectId: cfg.projectId,
    onUpdateProjectId: id => {
      guiId = String(id);
      history.replaceState(null, '', editorUrl(target(id)));
      autosave.status();
    },
    onUpdateProjectTitle,
    // The logo goes home too (the strip's link is the visible way).
    onClickLogo: () => document.getElementById('cubby-home')?.click()
  };
  if (titles.has(cfg.projectId)) props.projectTitle = titles.get(cfg.projectId);
  // readOnly: set for /editor?submission= (a submission's pinned version).
  // The body comes from the submission route (before the project helper),
  // and the page never saves: no Save, copy, remix or title edit in the GUI,
  // and the save hooks refuse, so nothing can write (docs/SCRATCH.md).
  if (cfg.readOnly === true) {
    scratchStorage.addHelper({
      load (assetType, assetId) {
        if (assetType !== AssetType.Project) return null;
        const url = origin + '/api/v1/submissions/' + encodeURIComponent(cfg.submissionId) + '/body';
        return fetch(url, {credentials: 'same-origin'}).then(async r => {
          if (!r.ok) return null; // the GUI says "could not find project"
          const data = new Uint8Array(await r.arrayBuffer());
          return scratchStorage.createAsset(AssetType.Project, DataFormat.JSON, data, String(assetId), false);
        });
      }
    }, 50);
    storage.saveProject = () => Promise.reject(new Error('cubby: this page is read-only'));
    storage.saveProjectThumbnail = () => {};
    Object.assign(props, {canSave: false, canCreateNew: false, canCreateCopy: false, canRemix: false,
      canEditTitle: false, onUpdateProjectId: () => {}});
  }
  const root = GUI.createStandaloneRoot(editorState, el);
  function render (changed) {
    Object.assign(props, changed);
    root.render(props);
  }
  render({});
  autosave.start();
})();
