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
  const storage = {
    scratchStorage, backpackStorage,
    setProjectHost (h) { projectHost = h; },
    setAssetHost (h) { assetHost = h; },
    setBackpackHost (h) { backpackStorage.setHostAndRegisterWebStore(h, scratchStorage); },
    getLibraryAssetUrl (id, fmt) { return assetHost + '/internalapi/asset/' + id + '.' + fmt + '/get/'; },
    async saveProject (id, json, params) {
      const qs = new URLSearchParams();
      if ('originalId' in params) qs.set('original_id', params.originalId);
      if ('isCopy' in params) qs.set('is_copy', params.isCopy);
      if ('isRemix' in params) qs.set('is_remix', params.isRemix);
      if ('title' in params) qs.set('title', params.title);
      const q = qs.toString() ? '?' + qs : '';
      const creating = id === null || id === undefined;
      const r = await fetch(creating ? projectHost + '/' + q : projectHost + '/' + id + q,
          {method: creating ? 'POST' : 'PUT', body: json, credentials: 'same-origin',
           headers: {'Content-Type': 'application/json'}});
      if (r.status !== 200) throw r.status;
      const body = await r.json();
      const newId = creating ? body['content-name'] : id;
      if (creating) history.replaceState(null, '', '/editor?project=' + newId);
      return Object.assign(body, {id: newId});
    },
    saveProjectThumbnail () {}
  };
  const el = document.getElementById('app');
  GUI.setAppElement(el);
  const state = new GUI.EditorState({locale: 'en'}, () => ({storage}));
  GUI.createStandaloneRoot(state, el).render({
    projectHost: origin + '/projects', assetHost: origin + '/assets',
    backpackHost: origin + '/backpack', backpackVisible: true,
    canSave: true, canCreateNew: true, canCreateCopy: true, canRemix: true, canEditTitle: true,
    projectId: cfg.projectId,
    onUpdateProjectId: id => history.replaceState(null, '', '/editor?project=' + id)
  });
})();
