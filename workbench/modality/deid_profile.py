"""The attribute lists of the de-identification profile that :mod:`workbench.modality.deid` applies.

They come from the Basic Application Level Confidentiality Profile of DICOM PS3.15, Annex E, Table
E.1-1. Two lists name the attributes that the profile removes (action X) or empties (action Z) and that
dicognito 0.19 would keep or only partly replace. The third names the identifying attributes whose
original values the tests search every output for.
"""

from __future__ import annotations

#: Keywords whose original values must not appear in any output. The tests scan every output for them.
IDENTIFYING_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientAddress",
    "PatientTelephoneNumbers", "PatientBirthName", "PatientMotherBirthName", "OtherPatientIDs",
    "OtherPatientNames", "IssuerOfPatientID", "AccessionNumber", "StudyID", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "ReferringPhysicianName", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "OperatorsName", "RequestingPhysician", "StationName",
    "DeviceSerialNumber", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionDateTime", "StudyDescription",
    "SeriesDescription", "ProtocolName", "ImageComments", "PatientComments", "AdditionalPatientHistory",
)

#: Attributes removed before dicognito runs: Table E.1-1 removes them (action X, or X/Z and X/D where
#: removal is allowed), and dicognito 0.19 would keep or only partly replace them.
REMOVED_KEYWORDS: frozenset[str] = frozenset({
    # Patient characteristics and contact details.
    "PatientAge", "PatientSize", "PatientWeight", "PatientBirthTime", "PatientBirthName",
    "PatientMotherBirthName", "OtherPatientNames", "OtherPatientIDsSequence", "PatientAddress",
    "CountryOfResidence", "RegionOfResidence", "IssuerOfPatientID", "PatientComments", "AdditionalPatientHistory",
    "Allergies", "EthnicGroup", "MedicalAlerts", "PregnancyStatus", "SmokingStatus", "LastMenstrualDate",
    "SpecialNeeds", "PatientState", "ResponsiblePerson", "PatientPrimaryLanguageCodeSequence",
    "PatientInstitutionResidence", "PatientTransportArrangements", "ReferencedPatientSequence",
    "ReferencedPatientAliasSequence", "PatientSexNeutered", "PatientTelephoneNumbers", "PatientTelecomInformation",
    "Occupation", "MilitaryRank", "BranchOfService", "MedicalRecordLocator", "PatientReligiousPreference",
    "PatientInsurancePlanCodeSequence", "ReferencedPatientPhotoSequence", "ResponsibleOrganization",
    # Visit, order and scheduling details.
    "StudyDescription", "StudyComments", "ReasonForStudy", "RequestedProcedureDescription",
    "RequestedProcedureComments", "ReasonForTheRequestedProcedure", "ImagingServiceRequestComments",
    "AdmissionID", "IssuerOfAdmissionID", "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence",
    "AdmittingDate", "AdmittingTime", "DischargeDiagnosisDescription", "ServiceEpisodeID",
    "ServiceEpisodeDescription", "VisitComments", "ReasonForVisit", "RequestAttributesSequence",
    "ReferencedStudySequence", "ReferencedPerformedProcedureStepSequence", "PerformedProcedureStepDescription",
    "CommentsOnThePerformedProcedureStep", "PerformedLocation", "PerformedStationName", "PerformedStationAETitle",
    "ScheduledStationName", "ScheduledStationAETitle", "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepLocation", "ScheduledStudyLocation", "ScheduledStudyLocationAETitle",
    "RequestingPhysician", "RequestingService", "StudyIDIssuer", "OrderEnteredBy", "OrderEntererLocation",
    "OrderCallbackPhoneNumber", "ClinicalTrialSponsorName", "ClinicalTrialProtocolName", "ClinicalTrialSiteName",
    "ClinicalTrialSubjectID",
    # Free text on the series and image, and thumbnails that may show burned-in text.
    "SeriesDescription", "ProtocolName", "ImageComments", "FrameComments", "AcquisitionComments",
    "DerivationDescription", "ImagePresentationComments", "IdentifyingComments",
    "AcquisitionDeviceProcessingDescription", "AcquisitionProtocolDescription", "ContrastBolusStartTime",
    "ContrastBolusStopTime", "IconImageSequence", "RequestedSeriesDescription", "AcquisitionContextSequence",
    "TextComments", "TextString",
    # Device, site and network identifiers.
    "DeviceSerialNumber", "DetectorID", "GantryID", "GeneratorID", "PlateID", "CassetteID", "StationAETitle",
    "RetrieveAETitle", "NetworkID", "UniqueDeviceIdentifier", "UDISequence", "DateOfLastCalibration",
    "TimeOfLastCalibration", "DateOfSecondaryCapture", "TimeOfSecondaryCapture", "InstitutionAddress",
    "InstitutionalDepartmentName", "InstitutionCodeSequence", "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle", "ReceivingApplicationEntityTitle", "TimezoneOffsetFromUTC",
    # Staff names and identification, which the profile removes instead of replacing.
    "PerformingPhysicianName", "PerformingPhysicianIdentificationSequence", "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence", "PhysiciansOfRecord", "PhysiciansOfRecordIdentificationSequence",
    "OperatorsName", "OperatorIdentificationSequence", "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers", "ReferringPhysicianIdentificationSequence", "ConsultingPhysicianName",
    "ConsultingPhysicianIdentificationSequence", "PersonAddress", "PersonTelephoneNumbers",
    # Copies of original values and signatures over them.
    "OriginalAttributesSequence", "ModifiedAttributesSequence", "DigitalSignaturesSequence", "DataSetTrailingPadding",
})

#: Attributes kept with an empty value (Table E.1-1 action Z). PatientSex is emptied before dicognito
#: runs, because dicognito would otherwise pick a made-up first name of the same sex.
EMPTIED_KEYWORDS: frozenset[str] = frozenset({"PatientBirthDate", "PatientSex", "ContrastBolusAgent"})
